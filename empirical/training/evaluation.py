"""Evaluating a model: encoder means of a split, every metric and the ledger checks on them."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

import witness_theory as wt
from empirical.configure import config_from_dict, replace
from empirical.models.vae import VAE
from empirical.training.checkpoints import load_checkpoint
from empirical.training.experiment import Experiment, build_model, prepare
from empirical.training.metrics import ACTIVE_UNIT_THRESHOLD, active_units, honest_mi, ledger_checks, report_violations
from witness_theory.heldout import one_blas_thread

__all__ = ["EVAL_SEED", "encode_split", "evaluate", "encode_checkpoint", "heldout_certificates", "mi_seed",
           "certificate_columns"]

EVAL_SEED = 2019  # the fixed seed of every evaluation sample (z for Rec): eval never touches training RNGs


def mi_seed(train_seed: int) -> int:
    """The seed of a run's MI draws: its own (issue 11: one shared z hid the estimator's noise)."""
    return EVAL_SEED * 1000 + int(train_seed)


POSTERIOR_SEED = 7919  # the posterior certificate's draws z ~ q(z|x): numpy, seeded per run (EVAL_SEED-style)
PERMUTATIONS = 999     # permutations of each certificate's exact test (p-values on a grid of 1/1000)
PROBE_TOL = 1e-6       # the probe's L-BFGS-B gradient tolerance on the mean codes
# ... and on the sampled codes: scikit-learn's default. Measured on digits vanilla (seeds 0, 1; kl
# weight 1 and 4): the posterior probe's margins move by at most 1.4e-4 nats against 1e-6 (either
# way), in 6-15 ms instead of 8-24. The certificate is sound for any h chosen on the fit split (T2H).
POSTERIOR_PROBE_TOL = 1e-4
# Descent steps of the posterior fitted witness's refit, which warm-starts from the mean-code fit
# (FittedWitness.max_iter; the mean fit keeps its 100). Measured on digits vanilla (seeds 0, 1; kl
# weight 1 and 4; bench/README.md, 2026-12-06): 20 steps reach within 0.01 nats of 100 steps' fit
# margin (kl 4: within 1e-4), and the evaluation margin moves by at most 0.01 nats, either way
# (more steps fit the one draw per fit row more closely, not the population); 32 ms instead of 104.
# Any number of steps chooses h on the fit split only, so the certificate stays sound (T2H, T13).
POSTERIOR_REFIT_STEPS = 20


def _draws(rng: np.random.Generator, mu: np.ndarray, log_var: np.ndarray, m: int | None) -> np.ndarray:
    """z = mu + exp(log_var / 2) eps, eps ~ N(0, I): (n, d) for m None, else (n, m, d) (float64)."""
    if m is None:
        return mu + np.exp(0.5 * log_var) * rng.standard_normal(mu.shape)
    return mu[:, None] + np.exp(0.5 * log_var)[:, None] * rng.standard_normal((mu.shape[0], m, mu.shape[1]))


def heldout_certificates(model: VAE, experiment: Experiment, split: str, codes_eval: np.ndarray,
                         log_var_eval: np.ndarray | None = None, *, fit_rows: int, seed: int,
                         delta: float, posterior_draws: int) -> dict:
    """The fitted-witness and probe certificates (T2H) of ``codes_eval`` with their (1 - ``delta``)
    lower confidence bounds on I(Y; Z) (T13) and permutation p-values; with ``log_var_eval``, also
    the posterior certificate (the same predictors on sampled codes: one draw z ~ q(z|x) per fit
    row to fit, ``posterior_draws`` per evaluation row to certify), the KL rate that bounds it
    (T13: LCB <= I(Y;Z) <= E KL(q || p)), and the certified active units (Holm at ``delta``).

    Split (recorded in the result): evaluating the test split, the fit rows are (at most
    ``fit_rows`` of, seeded) the training rows; evaluating the training split, a seeded 80/20
    split of the training rows (``witness_theory.heldout_split``), scored on its 20%. Row ids live
    in one space (training rows 0..N-1, test rows N..N+M-1), so the estimators' overlap check
    sees the two splits as disjoint. The probe is fitted with tol ``PROBE_TOL`` (L-BFGS-B's gradient
    tolerance): any tolerance only changes which h the fit split chooses, so none can certify a
    constant code (T2H).
    On the sampled codes the witness refits in at most ``POSTERIOR_REFIT_STEPS`` descent steps and the
    probe with tol ``POSTERIOR_PROBE_TOL``."""
    n_train = experiment.x_train.shape[0]
    rng = np.random.default_rng(seed)
    lv_eval = log_var_eval
    lv_fit: np.ndarray | None
    if split == "test":
        T_fit_all, x_fit_all = experiment.teacher_np("train"), experiment.x_train
        fit_ids = np.sort(rng.choice(n_train, size=min(fit_rows, n_train), replace=False))
        eval_ids = n_train + np.arange(codes_eval.shape[0])
        codes_fit, lv_fit = encode_split(model, x_fit_all[torch.as_tensor(fit_ids, device=x_fit_all.device)])
        T_fit, T_eval, c_eval = T_fit_all[fit_ids], experiment.teacher_np("test"), codes_eval
        what = f"fit: {len(fit_ids)} of {n_train} training rows (seed {seed}); eval: the test split"
    else:
        sp = wt.heldout_split(n_train, fraction=0.2, seed=seed)
        fit_ids = sp.fit[:fit_rows]
        eval_ids = sp.eval
        T_all = experiment.teacher_np("train")
        codes_fit, T_fit, T_eval, c_eval = codes_eval[fit_ids], T_all[fit_ids], T_all[eval_ids], codes_eval[eval_ids]
        lv_fit = None if log_var_eval is None else log_var_eval[fit_ids]
        lv_eval = None if log_var_eval is None else log_var_eval[eval_ids]
        what = f"fit: {len(fit_ids)} training rows; eval: {len(eval_ids)} held-out training rows (seed {seed})"
    out: dict = {"heldout_split": what, "delta": delta}
    with one_blas_thread():    # the four fits below under one BLAS limit (one listing of the libraries)
        return _certificates(out, T_fit, codes_fit, lv_fit, fit_ids, T_eval, c_eval, lv_eval, eval_ids, seed=seed,
                             delta=delta, posterior_draws=posterior_draws)


def _certificates(out: dict, T_fit, codes_fit, lv_fit, fit_ids, T_eval, c_eval, lv_eval, eval_ids, *, seed: int,
                  delta: float, posterior_draws: int) -> dict:
    """:func:`heldout_certificates` on its rows: the mean certificates into ``out``, and with both
    log-variances the posterior certificate and the certified active units."""
    # the posterior certificates below refit the same two estimators on the fit rows' sampled codes;
    # the witness warm-starts from its fit on the fit rows' means (both fit-split only: T2H holds)
    witness = wt.FittedWitness(seed=seed, warm_start=True)
    probe = wt.Probe(seed=seed, tol=PROBE_TOL)
    estimators: tuple[tuple[str, wt.FittedWitness | wt.Probe], ...] = (("fitted", witness), ("probe", probe))
    for name, estimator in estimators:
        c = estimator.fit(T_fit, codes_fit, fit_ids).certify(T_eval, c_eval, eval_ids, delta=delta,
                                                             permutations=PERMUTATIONS)
        out.update(certificate_columns(name, c))
        out.update({f"L_{name}": c.loss, f"I_T_{name}": c.teacher_information, f"fit_margin_{name}": c.fit_margin})
        if name == "fitted":
            out["fitted_scale"] = float(c.parameters["witness_scale"])
    if lv_eval is None or lv_fit is None:
        return out
    # the posterior certificate: what reaches the decoder, bounded above by the KL rate (T13)
    draws = np.random.default_rng([POSTERIOR_SEED, seed])
    z_fit, z_eval = _draws(draws, codes_fit, lv_fit, None), _draws(draws, c_eval, lv_eval, posterior_draws)
    kl_rows = wt.gaussian_kl(c_eval, lv_eval)                           # (n_e,) KL(q(z|x_i) || N(0, I))
    rate = float(kl_rows.mean())
    # the rate's own one-sided (1 - delta) upper bound: normal approximation (the KL per row is
    # unbounded, so no distribution-free bound exists); used only for the T13 violation count
    from scipy.stats import norm
    rate_ucb = rate + float(norm.ppf(1.0 - delta)) * float(kl_rows.std(ddof=1)) / np.sqrt(kl_rows.size)
    out.update({"kl_rate": rate, "kl_rate_ucb": rate_ucb, "posterior_draws": posterior_draws})
    violations = 0
    witness.max_iter = POSTERIOR_REFIT_STEPS        # its warm refit's steps (scikit-learn's set_params idiom)
    probe.tol = POSTERIOR_PROBE_TOL
    for name, estimator in estimators:   # fitted on the (n, 1, d) fit draws, certified on (n, M, d)
        c = estimator.fit(T_fit, z_fit[:, None], fit_ids).certify(T_eval, z_eval, eval_ids, delta=delta,
                                                                  permutations=PERMUTATIONS)
        out.update(certificate_columns(f"post_{name}", c))
        violations += int(c.lcb is not None and c.lcb > rate_ucb)
    out.update({"t13_violations": violations, "t13_violated": violations > 0})
    au = wt.certified_active_units(T_fit, z_fit, T_eval, z_eval, delta=delta)
    active = active_units(c_eval)[1] >= ACTIVE_UNIT_THRESHOLD           # the run's AU rule, on the certified rows
    out.update({"certified_au": au["certified_active_units"],
                "au_not_certified": [int(u) for u in np.flatnonzero(active & ~au["certified_units"])],
                "certified_not_au": [int(u) for u in np.flatnonzero(~active & au["certified_units"])]})
    return out


def certificate_columns(name: str, c: wt.HeldoutCertificate) -> dict:
    """One certificate's table columns: margin, LCB, verdict, counts, p-value."""
    return {f"G_{name}": c.margin, f"lcb_{name}": c.lcb, f"verdict_{name}": c.verdict,
            f"certified_{name}": c.certified, f"positive_{name}": c.positive,
            f"p_{name}": None if c.bound is None else c.bound.p_value}


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
    raw_bound = wt.information_bound(T, exp.witness.log_probs(mu), delta=config.train.delta,
                                     permutations=PERMUTATIONS if final else 0, seed=config.train.seed)
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
    heldout = heldout_certificates(model, exp, split, mu, lv, fit_rows=tc.heldout_fit_rows, seed=tc.seed, delta=tc.delta,
                                   posterior_draws=tc.posterior_draws) if final else {}
    return {
        "split": split, "n": int(mu.shape[0]),
        "I_T": cert.teacher_information, "L_TS": cert.alignment_loss, "G_T": cert.margin,
        "certified": cert.certified, "float_error": cert.float_error,
        "lcb_raw": raw_bound.lcb, "verdict_raw": wt.verdict(cert.margin, cert.float_error, raw_bound.lcb),
        "p_raw": raw_bound.p_value,
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

    ck = load_checkpoint(Path(path), "cpu")
    config = replace(config_from_dict(ck["config"]), train__device="cpu")
    if teacher_file is not None:
        config = replace(config, teacher__file=str(teacher_file))
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
        used = ck.get("teacher_path")   # absolute path of the teacher file the run used (recorded since issue 24)
        raise ValueError(f"checkpoint {path} was trained against teacher {trained_with[:16]}... "
                         f"({'file ' + str(used) if used else 'file not recorded by that version'}) but the teacher "
                         f"now is {now[:16]}...; certify it with the teacher file it was trained with (--teacher FILE)")
    out = {"codes": mu, "log_var": lv, "teacher": exp.teacher_np(split), "witness_scale": exp.witness.scale,
           "frame": exp.witness.P.copy(), "config": config, "teacher_hash": now}
    if heldout:
        tc = config.train
        out["heldout"] = heldout_certificates(model, exp, split, mu, lv, fit_rows=tc.heldout_fit_rows, seed=tc.seed,
                                              delta=tc.delta, posterior_draws=tc.posterior_draws)
    return out
