"""Evaluating a model: encoder means of a split, every metric and the ledger checks on them."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

import witness_theory as wt
from empirical.models.vae import VAE
from empirical.training.experiment import Experiment, build_model, prepare
from empirical.training.metrics import active_units, honest_mi, ledger_checks, report_violations

__all__ = ["EVAL_SEED", "encode_split", "evaluate", "encode_checkpoint", "heldout_certificates", "mi_seed"]

EVAL_SEED = 2019  # the fixed seed of every evaluation sample (z for Rec): eval never touches training RNGs


def mi_seed(train_seed: int) -> int:
    """The seed of a run's MI draws: its own (issue 11: one shared z hid the estimator's noise)."""
    return EVAL_SEED * 1000 + int(train_seed)


def heldout_certificates(model: VAE, experiment: Experiment, split: str, codes_eval: np.ndarray, *,
                         fit_rows: int, seed: int) -> dict:
    """The fitted-witness and probe certificates (T2H) of ``codes_eval``: each predictor is fitted
    on codes and teacher rows of the training split only and scored on the evaluation split.

    Split (recorded in the result): evaluating the test split, the fit rows are (at most
    ``fit_rows`` of, seeded) the training rows; evaluating the training split, a seeded 80/20
    split of the training rows (``witness_theory.heldout_split``), scored on its 20%. Row ids live
    in one space (training rows 0..N-1, test rows N..N+M-1), so the explicit form's overlap check
    sees the two splits as disjoint. The probe is fitted with tol 1e-6 (scikit-learn's L-BFGS): a
    looser fit can only raise the held-out loss, never certify a constant code (T2H)."""
    n_train = experiment.x_train.shape[0]
    rng = np.random.default_rng(seed)
    if split == "test":
        T_fit_all, x_fit_all = experiment.teacher_np("train"), experiment.x_train
        fit_ids = np.sort(rng.choice(n_train, size=min(fit_rows, n_train), replace=False))
        eval_ids = n_train + np.arange(codes_eval.shape[0])
        codes_fit = encode_split(model, x_fit_all[torch.as_tensor(fit_ids, device=x_fit_all.device)])[0]
        T_fit, T_eval, c_eval = T_fit_all[fit_ids], experiment.teacher_np("test"), codes_eval
        what = f"fit: {len(fit_ids)} of {n_train} training rows (seed {seed}); eval: the test split"
    else:
        sp = wt.heldout_split(n_train, fraction=0.2, seed=seed)
        fit_ids = sp.fit[:fit_rows]
        eval_ids = sp.eval
        T_all = experiment.teacher_np("train")
        codes_fit, T_fit, T_eval, c_eval = codes_eval[fit_ids], T_all[fit_ids], T_all[eval_ids], codes_eval[eval_ids]
        what = f"fit: {len(fit_ids)} training rows; eval: {len(eval_ids)} held-out training rows (seed {seed})"
    out: dict = {"heldout_split": what}
    cases: tuple[tuple[str, dict[str, Any]], ...] = (("fitted", {"method": "witness", "seed": seed}),
                                                      ("probe", {"method": "probe", "seed": seed, "tol": 1e-6}))
    for name, kwargs in cases:
        c = wt.certify_heldout(T_fit, codes_fit, T_eval, c_eval, fit_ids, eval_ids, **kwargs)
        out.update({f"G_{name}": c.margin, f"certified_{name}": c.certified, f"L_{name}": c.loss,
                    f"I_T_{name}": c.teacher_information, f"fit_margin_{name}": c.fit_margin})
        if name == "fitted":
            out["fitted_scale"] = float(c.parameters.get("scale", np.nan))
    return out


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
             full_mi: bool = True, final: bool = False) -> dict:
    """Every metric on ``split``, plus the ledger checks and the bounds they found violated.

    ``full_mi=False`` skips the O(N^2) full-data MI variant (``mi_full`` is then None).
    ``final`` adds what is too slow for every epoch: the held-out certificates (fitted witness,
    probe) and the T11 frontier check."""
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
    checks = ledger_checks(T, mu, lv, exp.witness, frontier=final)
    tc = config.train
    heldout = heldout_certificates(model, exp, split, mu, fit_rows=tc.heldout_fit_rows, seed=tc.seed) if final else {}
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
        **honest_mi(mu, lv, seed=mi_seed(tc.seed), batch_size=tc.mi_batch_size, full=full_mi, spread=final),
        **heldout,
        "size_bound": cert.size_bound, "size_bound_trace": cert.size_bound_trace,
        "size_bound_slack": cert.size_bound_slack,
        "certified_spread": wt.certified_spread(cert.margin, exp.witness),
        "teacher_hash": exp.teacher_result.teacher.content_hash,
        "checks": {c.theorem: bool(c.holds) for c in checks},
        "bound_violations": report_violations(
            checks, context or f"{config.method_name} seed {config.train.seed} {split}"),
    }


def encode_checkpoint(path, split: str = "test", *, experiment: Experiment | None = None, heldout: bool = False,
                      teacher_file=None) -> dict:
    """Encode a split with a saved model: codes (N, d) and log_var (float64), the teacher (N, K),
    the witness scale and frame (d, K-1), the run's config, the teacher's content hash the run
    was trained against (None for checkpoints older than the hash) and, with ``heldout``, the
    held-out certificates (:func:`heldout_certificates`)."""
    from empirical.config import config_from_dict
    from empirical.training.checkpoints import load_checkpoint

    ck = load_checkpoint(Path(path), "cpu")
    config = config_from_dict(ck["config"]).replace(train__device="cpu")
    if teacher_file is not None:
        config = config.replace(teacher__file=str(teacher_file))
    exp = experiment if experiment is not None else prepare(config)
    model = build_model(config, exp.dataset.image_shape)
    model.load_state_dict(ck["model"])
    model.to(exp.device)
    threads = torch.get_num_threads()
    if config.train.cpu_threads:   # the run's thread count: float32 kernels (convolutions) round per thread split
        torch.set_num_threads(config.train.cpu_threads)
    try:
        mu, lv = encode_split(model, exp.x_train if split == "train" else exp.x_test)
    finally:
        torch.set_num_threads(threads)
    trained_with, now = ck.get("teacher_hash"), exp.teacher_result.teacher.content_hash
    if trained_with is not None and trained_with != now:
        raise ValueError(f"checkpoint {path} was trained against teacher {trained_with[:16]}... but the teacher now "
                         f"is {now[:16]}...; certify it with the teacher file it was trained with (--teacher FILE)")
    out = {"codes": mu, "log_var": lv, "teacher": exp.teacher_np(split), "witness_scale": exp.witness.scale,
           "frame": exp.witness.P.copy(), "config": config, "teacher_hash": now}
    if heldout:
        tc = config.train
        out["heldout"] = heldout_certificates(model, exp, split, mu, fit_rows=tc.heldout_fit_rows, seed=tc.seed)
    return out
