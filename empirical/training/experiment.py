"""Preparing an experiment: the data set, its teacher and the witness (everything but the model)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

import witness_theory as wt
from empirical.config import ExperimentConfig
from empirical.configure import search_config, validate
from empirical.data.loaders import Dataset, load_dataset
from empirical.data.teacher import TeacherResult, load_teacher_file, teacher_for
from empirical.models.linear import LinearVAE
from empirical.models.vae import VAE
from empirical.models.witness_head import TorchWitness

__all__ = ["Experiment", "prepare", "build_model", "resolve_device", "check_experiment", "teacher_from_file"]


@dataclass
class Experiment:
    config: ExperimentConfig
    dataset: Dataset
    teacher_result: TeacherResult
    witness: wt.Witness
    head: TorchWitness
    x_train: torch.Tensor           # (N_train, D) float32 on device
    x_test: torch.Tensor
    T_train: torch.Tensor           # (N_train, K) float32 on device (float64 kept in teacher_result)
    T_test: torch.Tensor
    exact_codes_train: torch.Tensor  # (N_train, d) mu*(T_i), the prefit target
    teacher_information_train: float  # I_T on the training set (float64)
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    def teacher_np(self, split: str) -> np.ndarray:
        return np.asarray(self.teacher_result.T_train if split == "train" else self.teacher_result.T_test,
                          dtype=np.float64)


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("train.device=cuda requested but torch.cuda.is_available() is False; use --device cpu")
    return torch.device(device)


def prepare(config: ExperimentConfig) -> Experiment:
    """Load the data set and its teacher, build the witness."""

    config = validate(config)
    device = resolve_device(config.train.device)
    ds = load_dataset(config.data.name, config.data.root, limit=config.data.limit, scaling=config.data.scaling)
    if config.teacher.file:
        tr = teacher_from_file(config.teacher.file, ds)
    else:
        tr = teacher_for(ds, witness_scale=config.witness.scale, latent_dim=config.model.latent_dim,
                         seed=config.teacher.seed, cache_dir=config.teacher.cache, config=search_config(config),
                         progress=False)
    if tr.K > config.model.latent_dim + 1:
        raise ValueError(f"the teacher has K = {tr.K} outcomes but model.latent_dim = {config.model.latent_dim}; the "
                         f"witness needs K <= latent_dim + 1 (set model.latent_dim >= {tr.K - 1})")
    witness = wt.Witness(tr.K, d=config.model.latent_dim, scale=config.witness.scale)
    T_train = np.asarray(tr.T_train, dtype=np.float64)

    def as_t(a) -> torch.Tensor:
        return torch.as_tensor(np.asarray(a), dtype=torch.float32, device=device)

    return Experiment(
        config=config, dataset=ds, teacher_result=tr, witness=witness,
        head=TorchWitness(witness).to(device),
        x_train=as_t(ds.x_train), x_test=as_t(ds.x_test),
        T_train=as_t(T_train), T_test=as_t(tr.T_test),
        exact_codes_train=as_t(wt.exact_embedding(T_train, witness)),
        teacher_information_train=wt.teacher_information(T_train),
        device=device,
    )


def teacher_from_file(path, dataset) -> TeacherResult:
    """A saved teacher (``--teacher FILE``) checked against the data set, with its float64
    responsibilities on both splits (stored ones when they match the split, else recomputed)."""
    from pathlib import Path


    fitted = load_teacher_file(path, dataset)
    T_train = fitted.T_train if fitted.T_train is not None else fitted.responsibilities(dataset.x_train)
    T_test = fitted.T_test if fitted.T_test is not None else fitted.responsibilities(dataset.x_test)
    return TeacherResult(teacher=fitted, T_train=np.asarray(T_train, np.float64), T_test=np.asarray(T_test, np.float64),
                         K=fitted.K, report=[], path=Path(path))


#: What an Experiment fixes: a config that differs here needs prepare() again.
_PREPARED_KEYS = ("data", "teacher", "witness.scale", "model.latent_dim")


def check_experiment(config: ExperimentConfig, exp: Experiment) -> None:
    for key in _PREPARED_KEYS:
        section, _, name = key.partition(".")
        a, b = getattr(config, section), getattr(exp.config, section)
        if name:
            a, b = getattr(a, name), getattr(b, name)
        if a != b:
            raise ValueError(f"experiment was prepared with {key}={b!r} but the config has {key}={a!r}; "
                             "call prepare(config) again")


def build_model(config: ExperimentConfig, input_shape) -> VAE:
    m = config.model
    if m.kind == "linear":
        return LinearVAE(tuple(input_shape), m.latent_dim, decoder=m.decoder, decoder_variance=m.decoder_variance)
    return VAE(tuple(input_shape), m.latent_dim, hidden=tuple(m.hidden), decoder=m.decoder,
               conv_channels=tuple(m.conv_channels), decoder_variance=m.decoder_variance)
