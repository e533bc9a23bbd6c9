"""Evaluating a model: encoder means of a split, every metric and the ledger checks on them."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

import witness_theory as wt
from empirical.models.vae import VAE
from empirical.training.experiment import Experiment, build_model, prepare
from empirical.training.metrics import active_units, ledger_checks, mutual_information, report_violations

__all__ = ["EVAL_SEED", "encode_split", "evaluate", "encode_checkpoint"]

EVAL_SEED = 2019  # the fixed seed of every evaluation sample (z for Rec and MI): eval never touches training RNGs


@torch.no_grad()
def encode_split(model: VAE, x: torch.Tensor, batch_size: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Encoder means and log-variances of every row, float64 NumPy: ((N, d), (N, d))."""
    was_training = model.training
    model.eval()
    mus, lvs = [], []
    for start in range(0, x.shape[0], batch_size):
        mu, lv = model.encode(x[start:start + batch_size])
        mus.append(mu.double().cpu())
        lvs.append(lv.double().cpu())
    model.train(was_training)
    return torch.cat(mus).numpy(), torch.cat(lvs).numpy()


@torch.no_grad()
def evaluate(model: VAE, experiment: Experiment, split: str = "test", *, context: str = "",
             full_mi: bool = True) -> dict:
    """Every metric on ``split``, plus the ledger checks and the bounds they found violated.

    ``full_mi=False`` skips the O(N^2) full-data MI variant (``mi_full`` is then None)."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    exp, config = experiment, experiment.config
    x = exp.x_train if split == "train" else exp.x_test
    T = exp.teacher_np(split)
    mu, lv = encode_split(model, x)
    cert = wt.certify(T, mu, exp.witness)
    # Reconstruction with one z ~ q(z|x) per point from a fixed generator (deterministic)
    was_training = model.training
    model.eval()
    gen = torch.Generator(device=x.device).manual_seed(EVAL_SEED)
    rec_sum = 0.0
    for start in range(0, x.shape[0], 1024):
        xb = x[start:start + 1024]
        m, v = model.encode(xb)
        rec_sum += float(model.reconstruction_nll(xb, model.decode(model.reparameterize(m, v, gen))).double().sum())
    model.train(was_training)
    kl_dims = np.array([wt.gaussian_kl(mu[:, j:j + 1], lv[:, j:j + 1]).mean() for j in range(mu.shape[1])])
    au, var = active_units(mu)
    checks = ledger_checks(T, mu, lv, exp.witness, au)
    return {
        "split": split, "n": int(mu.shape[0]),
        "I_T": cert.teacher_information, "L_TS": cert.alignment_loss, "G_T": cert.margin,
        "certified": cert.certified, "float_error": cert.float_error,
        "rec": rec_sum / mu.shape[0],
        "kl": float(wt.gaussian_kl(mu, lv).mean()), "kl_per_dim": kl_dims,
        "energy": cert.code_energy, "energy_subspace": cert.subspace_energy,
        "mean_sq_norm": 2 * cert.code_energy,
        "exact_code_energy": wt.exact_code_energy(T, exp.witness),
        "active_units": au, "active_fraction": au / mu.shape[1], "unit_variance": var,
        **mutual_information(mu, lv, batch_size=config.train.mi_batch_size, seed=EVAL_SEED, full=full_mi),
        "size_bound": cert.size_bound, "size_bound_trace": cert.size_bound_trace,
        "size_bound_slack": cert.size_bound_slack,
        "certified_spread": wt.certified_spread(cert.margin, exp.witness),
        "checks": {c.theorem: bool(c.holds) for c in checks},
        "bound_violations": report_violations(
            checks, context or f"{config.method_name} seed {config.train.seed} {split}"),
    }


def encode_checkpoint(path, split: str = "test", *, experiment: Experiment | None = None) -> dict:
    """Encode a split with a saved model: codes (N, d) and log_var (float64), the teacher (N, K),
    the witness scale and frame (d, K-1), and the run's config."""
    from empirical.config import config_from_dict
    from empirical.training.checkpoints import load_checkpoint

    ck = load_checkpoint(Path(path), "cpu")
    config = config_from_dict(ck["config"]).replace(train__device="cpu")
    exp = experiment if experiment is not None else prepare(config)
    model = build_model(config, exp.dataset.image_shape)
    model.load_state_dict(ck["model"])
    model.to(exp.device)
    mu, lv = encode_split(model, exp.x_train if split == "train" else exp.x_test)
    return {"codes": mu, "log_var": lv, "teacher": exp.teacher_np(split), "witness_scale": exp.witness.scale,
            "frame": exp.witness.P.copy(), "config": config}
