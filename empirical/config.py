"""The config tree of every experiment: dataclasses and their defaults, nothing else.

This module is the leaf of ``empirical``: it imports only the standard library and
:mod:`witness_theory.defaults` (no numpy, torch or scikit-learn), and every default of the
experiments is written here once and read from here. Building, checking and overriding a tree
(``resolve``, ``--set``, the JSON round trip) is :mod:`empirical.configure`, one layer up.

An :class:`ExperimentConfig` embeds the configs of the data set, the teacher search, the witness,
the model, the training method and the training loop (minGPT's ``get_default_config()`` is the
model: small dataclasses with visible, commented defaults)::

    data      DataConfig       which data set, where its files are, a row limit
    teacher   TeacherSettings  the PCA-GMM search grid (TeacherConfig) plus the search seed,
                               the cache and an optional teacher file
    witness   WitnessConfig    the witness scale beta
    model     ModelConfig      latent size, widths, decoder
    method    <Method>.Config  the chosen method's own settings (empirical.methods)
    train     TrainConfig      epochs, batch, optimiser, KL weight, seed, device, evaluation

Overrides are dotted ``section.key=value`` strings, identical in every command::

    --set train.epochs=5 method.alpha=2 teacher.pca_dims=8 witness.scale=4

(``python -m empirical config --keys`` lists every key.)
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from witness_theory.defaults import DELTA, WITNESS_SCALE

__all__ = ["DataConfig", "TeacherConfig", "TeacherSettings", "WitnessConfig", "ModelConfig", "TrainConfig",
           "ExperimentConfig", "SECTIONS", "PLACEMENT_KEYS", "TOP_LEVEL", "DERIVED_TEACHER_KEYS", "LATENT_DIM", "SEEDS",
           "WITNESS_SCALE", "DELTA", "SCALINGS", "DECODERS", "MODEL_KINDS", "DEVICES", "EVAL_SPLITS", "OPTIMIZERS",
           "COVARIANCE_TYPES", "SELECTIONS", "HELDOUT_MODES", "USER_CACHE", "CACHE_ENV_VAR", "teacher_cache_dir"]

# ---------------------------------------------------------------------------------------
# Defaults shared by several sections or commands (each written once, here)
# ---------------------------------------------------------------------------------------

LATENT_DIM = 16     # d of the VAE and of the teacher search (K <= d + 1 = 17)
SEEDS = 5           # seeds of every multi-seed experiment (claims, compare, escape, rescue, linear, sweep)

# the fixed choices of config values (checked when a config resolves, and by the code that uses them)
SCALINGS = ("none", "max", "minmax", "standardize")        # data.scaling (train statistics)
DECODERS = ("bernoulli", "gaussian", "gaussian-learned")   # model.decoder
MODEL_KINDS = ("auto", "linear")                            # model.kind
DEVICES = ("auto", "cpu", "cuda")                           # train.device (or cuda:N)
EVAL_SPLITS = ("train", "test")                             # train.eval_split
OPTIMIZERS = ("adam", "rmsprop")                            # train.optimizer
COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")    # teacher.covariance_types (scikit-learn's GMM)
SELECTIONS = ("heldout", "train")                           # teacher.selection
HELDOUT_MODES = ("auto", "cv", "unused-rows")               # teacher.heldout


# ---------------------------------------------------------------------------------------
# The teacher cache
# ---------------------------------------------------------------------------------------

#: ``teacher.cache`` default: the user's cache directory, so that runs started from any working
#: directory share one cache and record an absolute path. It is $WITNESS_THEORY_CACHE/teachers,
#: else $XDG_CACHE_HOME/witness-theory/teachers, else ~/.cache/witness-theory/teachers
#: (:func:`teacher_cache_dir`). Files are content-addressed (<data set>-<hash of config, seed, data>.npz).
USER_CACHE = "user"
CACHE_ENV_VAR = "WITNESS_THEORY_CACHE"


def teacher_cache_dir(cache: str | os.PathLike | None) -> Path | None:
    """The absolute teacher cache directory of a ``teacher.cache`` value (None: no cache)."""
    if cache is None:
        return None
    if str(cache) == USER_CACHE:
        root = os.environ.get(CACHE_ENV_VAR)
        if root:
            return Path(root).expanduser().resolve() / "teachers"
        xdg = os.environ.get("XDG_CACHE_HOME")
        base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"   # XDG: relative is invalid
        return (base / "witness-theory" / "teachers").resolve()
    return Path(cache).expanduser().resolve()


# ---------------------------------------------------------------------------------------
# The sections
# ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TeacherConfig:
    """Grid and rule of the teacher search (defaults: a generic small data set).

    ``witness_scale`` (beta) and ``latent_dim`` (d) are package-wide defaults shared with the
    VAE training: K <= d + 1 = 17. ``subsample`` (rows) caps the fitting sample of PCA and the
    GMM; ``None`` fits on all training rows.
    """
    pca_dims: tuple[int, ...] = (8, 16, 32)
    n_components: tuple[int, ...] = (3, 4, 6, 8, 10, 12, 14, 17)
    covariance_types: tuple[str, ...] = ("full", "diag")
    seeds: tuple[int, ...] = (0,)
    floor: float = 1e-2              # T = (1 - floor) R + floor / K
    energy_budget: float = 1.5       # nats of exact-code energy ((K-1)/(2 K beta^2)) E_T
    tie_tolerance: float = 1e-3      # nats of I_T within which candidates are tied
    witness_scale: float = WITNESS_SCALE   # beta
    latent_dim: int = LATENT_DIM           # d; K <= d + 1
    max_K: int | None = None         # None: latent_dim + 1
    max_iter: int = 200              # EM iterations
    tol: float = 1e-3                # EM convergence tolerance (sklearn default)
    reg_covar: float = 1e-6          # added to covariance diagonals (sklearn default)
    subsample: int | None = None     # rows used to fit PCA and the GMM
    whiten: bool = False             # PCA whitening of the view
    selection: str = "heldout"       # "heldout": max cross-validated I_T; "train": max training I_T (v1 rule)
    cv_folds: int = 3                # folds of the fitting rows for the held-out I_T
    heldout: str = "auto"            # "auto": unused training rows when a subsample leaves >= 1,000, else "cv"
    heldout_rows: int = 10_000       # at most this many unused training rows measure the held-out I_T
    min_rows_per_component: int = 10  # K <= (rows of one CV fit) / this
    gap_warning: float = 0.25        # nats: warn when I_T(train) - I_T(held-out) of the choice exceeds this


@dataclass
class DataConfig:
    name: str = "digits"            # a registry name (empirical.data.registry) or a .npy/.npz path
    root: str | None = None         # directory searched first for on-disk data sets
    limit: int | None = None        # keep at most this many train and test rows (smoke runs)
    scaling: str | None = None      # none | max | minmax | standardize (train statistics); None: the loader's
                                    # default (named data sets: native [0, 1]; user arrays: divide by the max)


@dataclass(frozen=True)
class TeacherSettings(TeacherConfig):
    """The teacher search grid (inherited fields, see TeacherConfig) and how the search is run.

    ``witness_scale`` and ``latent_dim`` of the search are always taken from ``witness.scale``
    and ``model.latent_dim`` (setting them here is an error)."""
    seed: int = 0                          # search seed: subsample, PCA and GMM initialisations
    cache: str | None = USER_CACHE         # teacher cache directory: "user" (USER_CACHE), a path, or None (search every time)
    file: str | None = None                # a saved teacher (the `teacher` command's teacher.npz): no search


@dataclass
class WitnessConfig:
    scale: float = WITNESS_SCALE    # beta of the theory: S(mu) = softmax(beta A^T mu)


@dataclass
class ModelConfig:
    kind: str = "auto"                              # auto (MLP; conv net for 3x32x32) | linear (T12's linear VAE)
    latent_dim: int = LATENT_DIM                    # d; the teacher has K <= d + 1 outcomes
    hidden: tuple[int, ...] = (256, 128)            # MLP widths (conv nets: hidden[0] is the fc width)
    conv_channels: tuple[int, ...] = (32, 64, 128)  # used for (3, 32, 32) inputs only
    decoder: str = "bernoulli"                      # bernoulli | gaussian | gaussian-learned
    decoder_variance: float = 1.0                   # sigma^2 of the fixed-variance "gaussian" decoder


@dataclass
class TrainConfig:
    epochs: int = 40                # ELBO epochs (a method's extra phases, e.g. prefit, come on top)
    batch_size: int = 128
    lr: float = 2e-3                # the optimiser's learning rate
    optimizer: str = "adam"         # adam | rmsprop (torch.optim, torch's defaults otherwise)
    momentum: float = 0.0           # RMSprop's momentum (Adam has none: must stay 0 with adam)
    weight_decay: float = 0.0       # L2 penalty added by the optimiser (torch's weight_decay)
    grad_clip: float | None = None  # clip the global gradient norm to this before each step (None: no clipping)
    kl_weight: float = 1.0          # weight of KL(q(z|x) || N(0, I)) in every method's ELBO (beta-VAE's beta)
    seed: int = 0
    device: str = "auto"            # auto (cuda if available) | cpu | cuda
    cpu_threads: int = 1            # torch CPU threads during training; 0 = leave torch's setting.
                                    # 1 because these small nets step ~20x slower with 2 threads
                                    # on a shared 2-core machine (measured: 3.8 ms vs 68 ms)
    eval_every: int = 1             # epochs between evaluations (the last is always evaluated)
    checkpoint_seconds: float = 10.0  # a checkpoint after an epoch once this long has passed since the last
                                    # one, and always after the last epoch; 0 = after every epoch. A killed
                                    # run resumes from it bit for bit, redoing at most this much work. Saving
                                    # after each of a digits run's 0.1 s epochs took ~10% of the run
    eval_split: str = "test"        # train | test
    mi_batch_size: int = 128        # He et al. (2019) minibatch MI estimator batch size
    mi_full_max_epoch: int = 5000   # per-epoch evals compute the O(N^2) full-data MI only up to this many rows
    heldout_fit_rows: int = 2000    # training rows the held-out certificates' predictors are fitted on (final eval)
    delta: float = DELTA            # error rate of every certified-information verdict (T13: LCB at 1 - delta)
    posterior_draws: int = 8        # z ~ q(z|x) per evaluation row in the posterior certificate (final eval)


@dataclass
class ExperimentConfig:
    data: DataConfig = field(default_factory=DataConfig)
    teacher: TeacherSettings = field(default_factory=TeacherSettings)
    witness: WitnessConfig = field(default_factory=WitnessConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    method: Any = None              # the chosen method's Config instance (set by resolve)
    train: TrainConfig = field(default_factory=TrainConfig)
    method_name: str = "vanilla"    # registry name of the method (empirical.methods)
    out_dir: str | None = None      # run directory (None: runs/train/<data>/<method>-kl<w>-seed<s>)
    # every method.* setting given so far (data set defaults, quick settings, --set), kept so that
    # a grid switching methods (claims, compare) gives each method the keys it has; not written
    method_settings: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    # how this tree was built (resolve's arguments, then every override and replace in order), so
    # that a results file can record it and a later version can rebuild it (configure.reproduce)
    resolved_from: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


SECTIONS = ("data", "teacher", "witness", "model", "method", "train")
#: Keys that say where a run happens, not what it computes (left out of trial ids and of the
#: reproduction check of recorded results): (section, key), key None for a top-level key.
PLACEMENT_KEYS: tuple[tuple[str, str | None], ...] = (("out_dir", None), ("train", "device"), ("teacher", "cache"),
                                                      ("data", "root"), ("train", "checkpoint_seconds"))
TOP_LEVEL = ("out_dir",)                            # keys outside the sections
DERIVED_TEACHER_KEYS = ("witness_scale", "latent_dim")   # the search takes them from witness.scale and model.latent_dim
