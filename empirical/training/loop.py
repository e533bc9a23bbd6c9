"""Witness-aligned VAE training: one loop, four methods that differ only in their loss terms.

Methods (ours; the loss is per-sample means, summed over pixels / latent dims, so ``alpha``
means the same thing on every data set):

- ``vanilla``: rec + kl_weight * KL. The witness is attached for measurement only (its
  L_TS is logged from the detached mean; no gradient flows through it).
- ``rst``: rec + kl_weight * KL + alpha * L_TS, with L_TS = mean_i KL(T_i || S(mu_i)).
- ``rst-prefit``: first ``prefit_epochs`` epochs regress the encoder mean onto the exact codes
  mu*(T_i) = witness_theory.exact_embedding(T, witness) (loss (1/2)||mu - mu*||^2, encoder
  mean only), then ``epochs`` epochs as ``rst``. Prefit epochs are *added* to ``epochs`` so
  every method gets the same number of ELBO epochs.
- ``rst-alpha-prefit``: prefit, then ``rst`` with the alignment weight
      alpha_eff = alpha * max(1, kl_weight) * boost.
  Scaling with kl_weight keeps the ratio of alignment pressure to KL pressure fixed when the
  KL term is stressed (the exact code's price is KL energy, T5). ``boost`` starts at 1 and is
  multiplied by ``alpha_boost_factor`` (capped at ``alpha_boost_max``) after every ELBO epoch
  whose running training margin I_T(train) - mean_batches L_TS falls below
  ``alpha_margin_floor * I_T(train)``. The rule is deterministic and its state is checkpointed.

Every run seeds python, numpy and torch, writes ``config.json``, ``versions.json``,
``metrics.jsonl`` (one line per epoch), ``summary.json`` (atomic) and ``checkpoint.pt`` (atomic,
every epoch: config, epoch, model, optimizer, schedule state, history, and the torch / numpy /
python / shuffle RNG states), so a run killed mid-way and resumed ends with the same numbers.
"""
from __future__ import annotations

import dataclasses
import io
import json
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

import witness_theory as wt
from empirical import io as eio
from empirical.overrides import apply_overrides as _apply_overrides
from empirical.training.metrics import active_units, ledger_checks, mutual_information, report_violations
from empirical.models.vae import DECODERS, VAE, gaussian_kl_terms
from empirical.models.witness_head import TorchWitness

__all__ = ["METHODS", "TrainConfig", "apply_overrides", "config_from_dict", "Experiment", "prepare",
           "build_model", "loss_terms", "alignment_weight", "train", "evaluate", "encode_split",
           "encode_checkpoint", "RunResult", "resolve_device", "total_epochs"]

METHODS = ("vanilla", "rst", "rst-prefit", "rst-alpha-prefit")


@dataclass
class TrainConfig:
    dataset: str = "digits"
    method: str = "vanilla"                 # one of METHODS
    latent_dim: int = 16
    hidden: tuple[int, ...] = (256, 128)    # MLP widths (conv nets: hidden[0] is the fc width)
    conv_channels: tuple[int, ...] = (32, 64, 128)  # used for (3, 32, 32) inputs only
    decoder: str = "bernoulli"              # bernoulli | gaussian | gaussian-learned
    epochs: int = 40                        # ELBO epochs (prefit epochs come on top)
    batch_size: int = 128
    lr: float = 2e-3
    kl_weight: float = 1.0                  # weight of KL(q(z|x) || N(0, I))
    alpha: float = 1.0                      # weight of L_TS (rst methods)
    witness_scale: float = 4.0              # beta of THEORY.md
    prefit_epochs: int = 5                  # rst-prefit / rst-alpha-prefit only
    alpha_margin_floor: float = 0.5         # rst-alpha-prefit: boost when running margin < floor * I_T
    alpha_boost_factor: float = 2.0
    alpha_boost_max: float = 16.0
    seed: int = 0
    device: str = "auto"                    # auto (cuda if available) | cpu | cuda
    cpu_threads: int = 1                    # torch CPU threads during train(); 0 = leave torch's setting.
                                            # 1 because these small nets step ~20x slower with 2 threads
                                            # on a shared 2-core machine (measured: 3.8 ms vs 68 ms)
    eval_every: int = 1                     # epochs between evaluations (the last is always evaluated)
    eval_split: str = "test"
    mi_batch_size: int = 128                # He et al. (2019) minibatch MI estimator batch size
    mi_full_max_epoch: int = 5000           # per-epoch evals compute the O(N^2) full-data MI only up to
                                            # this many rows (the final evaluation always does)
    limit: int | None = None                # keep at most this many train and test rows
    data_root: str | None = None
    teacher_seed: int = 0
    teacher_cache: str = "runs/teachers"
    out_dir: str | None = None              # None -> runs/train/<dataset>/<method>-kl<kl_weight>-seed<seed>


def _validate(config: TrainConfig) -> TrainConfig:
    c = config
    if c.method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {c.method!r}")
    if c.decoder not in DECODERS:
        raise ValueError(f"decoder must be one of {', '.join(DECODERS)}, got {c.decoder!r}")
    if c.device not in ("auto", "cpu", "cuda") and not str(c.device).startswith("cuda:"):
        raise ValueError(f"device must be auto, cpu or cuda, got {c.device!r}")
    if c.eval_split not in ("train", "test"):
        raise ValueError(f"eval_split must be 'train' or 'test', got {c.eval_split!r}")
    for name in ("latent_dim", "epochs", "batch_size", "eval_every", "mi_batch_size", "mi_full_max_epoch"):
        if getattr(c, name) < 1:
            raise ValueError(f"{name} must be >= 1, got {getattr(c, name)}")
    if c.prefit_epochs < 0 or c.cpu_threads < 0:
        raise ValueError(f"prefit_epochs and cpu_threads must be >= 0, got {c.prefit_epochs}, {c.cpu_threads}")
    for name in ("lr", "witness_scale", "alpha_boost_factor", "alpha_boost_max"):
        if not getattr(c, name) > 0:
            raise ValueError(f"{name} must be > 0, got {getattr(c, name)}")
    for name in ("kl_weight", "alpha", "alpha_margin_floor"):
        if getattr(c, name) < 0:
            raise ValueError(f"{name} must be >= 0, got {getattr(c, name)}")
    if not c.hidden:
        raise ValueError("hidden must name at least one layer width, e.g. hidden=256,128")
    return c


def apply_overrides(config: TrainConfig, overrides) -> TrainConfig:
    """Return a copy of ``config`` with ``["key=value", ...]`` applied; a key must exist."""
    return _validate(_apply_overrides(config, overrides))


def config_from_dict(d: dict) -> TrainConfig:
    """Rebuild a TrainConfig from ``asdict`` / JSON (lists back to tuples)."""
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = set(d) - names
    if unknown:
        raise ValueError(f"unknown config keys {sorted(unknown)}; valid keys: {', '.join(sorted(names))}")
    kw = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
    return _validate(TrainConfig(**kw))


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("device=cuda requested but torch.cuda.is_available() is False; use --device cpu")
    return torch.device(device)


def total_epochs(config: TrainConfig) -> int:
    return config.epochs + (config.prefit_epochs if config.method.endswith("prefit") else 0)


def _in_prefit(config: TrainConfig, epoch: int) -> bool:
    return config.method.endswith("prefit") and epoch < config.prefit_epochs


def _out_dir(config: TrainConfig) -> Path:
    if config.out_dir:
        return Path(config.out_dir)
    return Path("runs/train") / config.dataset / f"{config.method}-kl{config.kl_weight:g}-seed{config.seed}"


# ---------------------------------------------------------------------------------------
# Experiment: data, teacher, witness
# ---------------------------------------------------------------------------------------

@dataclass
class Experiment:
    config: TrainConfig
    dataset: object                 # empirical.data.Dataset
    teacher_result: object          # empirical.teacher.TeacherResult
    witness: wt.Witness
    head: TorchWitness
    x_train: torch.Tensor           # (N_train, D) float32 on device
    x_test: torch.Tensor
    T_train: torch.Tensor           # (N_train, K) float32 on device (float64 kept in teacher_result)
    T_test: torch.Tensor
    exact_codes_train: torch.Tensor  # (N_train, d) mu*(T_i), the prefit target
    teacher_information_train: float  # I_T on the training set (float64), for the alpha rule
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    def teacher_np(self, split: str) -> np.ndarray:
        return np.asarray(self.teacher_result.T_train if split == "train" else self.teacher_result.T_test,
                          dtype=np.float64)


def prepare(config: TrainConfig) -> Experiment:
    """Load the data set and its teacher, build the witness: everything a run needs but the model."""
    from empirical.data.loaders import load_dataset
    from empirical.data.teacher import teacher_for

    config = _validate(config)
    device = resolve_device(config.device)
    ds = load_dataset(config.dataset, config.data_root, limit=config.limit)
    tr = teacher_for(ds, witness_scale=config.witness_scale, latent_dim=config.latent_dim,
                     seed=config.teacher_seed, cache_dir=config.teacher_cache, progress=False)
    witness = wt.Witness(tr.K, d=config.latent_dim, scale=config.witness_scale)
    T_train = np.asarray(tr.T_train, dtype=np.float64)
    as_t = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float32, device=device)  # noqa: E731
    return Experiment(
        config=config, dataset=ds, teacher_result=tr, witness=witness,
        head=TorchWitness(witness).to(device),
        x_train=as_t(ds.x_train), x_test=as_t(ds.x_test),
        T_train=as_t(T_train), T_test=as_t(tr.T_test),
        exact_codes_train=as_t(wt.exact_embedding(T_train, witness)),
        teacher_information_train=wt.teacher_information(T_train),
        device=device,
    )


def _check_experiment(config: TrainConfig, exp: Experiment) -> None:
    for key in ("dataset", "latent_dim", "witness_scale", "limit", "teacher_seed", "data_root"):
        if getattr(config, key) != getattr(exp.config, key):
            raise ValueError(f"experiment was prepared with {key}={getattr(exp.config, key)!r} but the config "
                             f"has {key}={getattr(config, key)!r}; call prepare(config) again")


def build_model(config: TrainConfig, input_shape) -> VAE:
    return VAE(tuple(input_shape), config.latent_dim, hidden=tuple(config.hidden), decoder=config.decoder,
               conv_channels=tuple(config.conv_channels))


# ---------------------------------------------------------------------------------------
# Loss terms: the only place the methods differ
# ---------------------------------------------------------------------------------------

def alignment_weight(config: TrainConfig, alpha_boost: float = 1.0) -> float:
    """alpha_eff for the ELBO epochs (0 for vanilla; see the module docstring for the rule)."""
    if config.method == "vanilla":
        return 0.0
    if config.method == "rst-alpha-prefit":
        return config.alpha * max(1.0, config.kl_weight) * alpha_boost
    return config.alpha


def loss_terms(model: VAE, x: torch.Tensor, T_batch: torch.Tensor, head: TorchWitness, config: TrainConfig,
               epoch: int, *, target_codes: torch.Tensor | None = None, alpha_boost: float = 1.0) -> dict:
    """rec, kl, align (L_TS), total (and prefit during prefit epochs); per-sample means, nats."""
    out, mu, log_var = model(x)
    rec = model.reconstruction_nll(x, out).mean()                 # -log p(x|z), summed over pixels
    kl = gaussian_kl_terms(mu, log_var).sum(1).mean()             # KL(q(z|x) || N(0, I))
    terms = {"rec": rec, "kl": kl}
    if _in_prefit(config, epoch):
        if target_codes is None:
            raise ValueError("prefit epochs need target_codes (the exact codes mu*(T_i) of the batch)")
        terms["align"] = head.alignment_loss(mu.detach(), T_batch)
        terms["prefit"] = 0.5 * (mu - target_codes).pow(2).sum(1).mean()   # regress mu onto mu*(T_i)
        terms["total"] = terms["prefit"]
        return terms
    alpha_eff = alignment_weight(config, alpha_boost)
    if alpha_eff == 0.0:  # vanilla: the witness only measures
        terms["align"] = head.alignment_loss(mu.detach(), T_batch)
        terms["total"] = rec + config.kl_weight * kl
    else:
        terms["align"] = head.alignment_loss(mu, T_batch)
        terms["total"] = rec + config.kl_weight * kl + alpha_eff * terms["align"]
    return terms


# ---------------------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------------------

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


EVAL_SEED = 2019  # the fixed seed of every evaluation sample (z for Rec and MI): eval never touches training RNGs


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
    metrics = {
        "split": split, "n": int(mu.shape[0]),
        "I_T": cert.teacher_information, "L_TS": cert.alignment_loss, "G_T": cert.margin,
        "certified": cert.certified, "float_error": cert.float_error,
        "rec": rec_sum / mu.shape[0],
        "kl": float(wt.gaussian_kl(mu, lv).mean()), "kl_per_dim": kl_dims,
        "energy": cert.code_energy, "energy_subspace": cert.subspace_energy,
        "mean_sq_norm": 2 * cert.code_energy,
        "exact_code_energy": wt.exact_code_energy(T, exp.witness),
        "active_units": au, "active_fraction": au / mu.shape[1], "unit_variance": var,
        **mutual_information(mu, lv, batch_size=config.mi_batch_size, seed=EVAL_SEED, full=full_mi),
        "size_bound": cert.size_bound, "size_bound_trace": cert.size_bound_trace,
        "size_bound_slack": cert.size_bound_slack,
        "certified_spread": wt.certified_spread(cert.margin, exp.witness),
        "checks": {c.theorem: bool(c.holds) for c in checks},
        "bound_violations": report_violations(checks, context or f"{config.method} seed {config.seed} {split}"),
    }
    return metrics


# ---------------------------------------------------------------------------------------
# Checkpoints and the training loop
# ---------------------------------------------------------------------------------------

@dataclass
class RunResult:
    config: TrainConfig
    model: VAE
    history: list
    final: dict
    out_dir: Path
    bound_violations: list


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


def _rng_state(shuffle: torch.Generator) -> dict:
    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "shuffle": shuffle.get_state()}


def _set_rng_state(state: dict, shuffle: torch.Generator) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    shuffle.set_state(state["shuffle"])


def _save_checkpoint(path: Path, **payload) -> None:
    buf = io.BytesIO()
    torch.save(payload, buf)
    eio.atomic_write_bytes(path, buf.getvalue())  # temp file + os.replace: never half-written


def _load_checkpoint(path: Path, device) -> dict:
    # weights_only=False: our own checkpoints also carry RNG states (numpy/python tuples)
    return torch.load(path, map_location=device, weights_only=False)


_RESUME_IGNORED = ("device", "out_dir", "epochs", "eval_every", "cpu_threads", "mi_full_max_epoch")


def train(config: TrainConfig, *, experiment: Experiment | None = None, init_from=None, resume: bool = True,
          step_callback: Callable | None = None, progress: bool = True) -> RunResult:
    """Train one VAE with ``config.method``; returns the run's history and final evaluation.

    ``config.cpu_threads`` is applied with torch.set_num_threads for the run and restored after.
    """
    config = _validate(config)
    previous_threads = torch.get_num_threads()
    if config.cpu_threads:
        torch.set_num_threads(config.cpu_threads)
    try:
        return _train(config, experiment, init_from, resume, step_callback, progress)
    finally:
        torch.set_num_threads(previous_threads)


def _train(config, experiment, init_from, resume, step_callback, progress) -> RunResult:
    from tqdm.auto import tqdm

    exp = experiment if experiment is not None else prepare(config)
    _check_experiment(config, exp)
    exp.config = config
    out = _out_dir(config)
    out.mkdir(parents=True, exist_ok=True)
    ckpt_path = out / "checkpoint.pt"
    _seed_everything(config.seed)
    model = build_model(config, exp.dataset.image_shape).to(exp.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    shuffle = torch.Generator().manual_seed(config.seed)
    start, step, alpha_boost, history = 0, 0, 1.0, []
    if resume and ckpt_path.exists():
        ck = _load_checkpoint(ckpt_path, exp.device)
        diff = {k: (v, getattr(config, k)) for k, v in config_from_dict(ck["config"]).__dict__.items()
                if k not in _RESUME_IGNORED and getattr(config, k) != v}
        if diff:
            raise ValueError(f"{ckpt_path} was written with a different config {diff}; "
                             "use another out_dir or resume=False")
        model.load_state_dict(ck["model"])
        optimizer.load_state_dict(ck["optimizer"])
        _set_rng_state(ck["rng"], shuffle)
        start, step, alpha_boost, history = ck["epoch"], ck["step"], ck["alpha_boost"], ck["history"]
        # a kill between the JSON line and the checkpoint must not leave a duplicate line
        eio.atomic_write_text(out / "metrics.jsonl", "".join(json.dumps(eio.to_jsonable(h)) + "\n" for h in history))
    else:
        if init_from is not None:
            model.load_state_dict(_load_checkpoint(Path(init_from), exp.device)["model"])
        (out / "metrics.jsonl").unlink(missing_ok=True)
    eio.atomic_write_json(out / "config.json", config)
    eio.atomic_write_json(out / "versions.json", eio.library_versions())

    n, n_epochs = exp.x_train.shape[0], total_epochs(config)
    bar = tqdm(range(start, n_epochs), initial=start, total=n_epochs, disable=not progress,
               desc=f"{config.dataset}/{config.method}/seed{config.seed}", file=sys.stderr)
    for epoch in bar:
        model.train()
        sums, n_batches, t0 = {}, 0, time.perf_counter()
        for idx in torch.randperm(n, generator=shuffle).split(config.batch_size):
            idx = idx.to(exp.device)
            losses = loss_terms(model, exp.x_train[idx], exp.T_train[idx], exp.head, config, epoch,
                                target_codes=exp.exact_codes_train[idx], alpha_boost=alpha_boost)
            optimizer.zero_grad(set_to_none=True)
            losses["total"].backward()
            if step_callback is not None:
                step_callback(step, model, losses)
            optimizer.step()
            step, n_batches = step + 1, n_batches + 1
            for k, v in losses.items():  # on-device float64 sums: no host sync per step
                sums[k] = sums.get(k, 0.0) + v.detach().double()
        sums = {k: float(v) for k, v in sums.items()}
        record = {"epoch": epoch + 1, "phase": "prefit" if _in_prefit(config, epoch) else "elbo",
                  "alpha_eff": alignment_weight(config, alpha_boost) if not _in_prefit(config, epoch) else 0.0,
                  **{f"train_{k}": v / n_batches for k, v in sums.items()},
                  "running_margin": exp.teacher_information_train - sums["align"] / n_batches}
        if config.method == "rst-alpha-prefit" and record["phase"] == "elbo" and \
                record["running_margin"] < config.alpha_margin_floor * exp.teacher_information_train:
            alpha_boost = min(alpha_boost * config.alpha_boost_factor, config.alpha_boost_max)
        if (epoch + 1) % config.eval_every == 0 or epoch + 1 == n_epochs:
            n_eval = (exp.x_train if config.eval_split == "train" else exp.x_test).shape[0]
            record["eval"] = evaluate(model, exp, config.eval_split, context=f"{out} epoch {epoch + 1}",
                                      full_mi=n_eval <= config.mi_full_max_epoch)
            bar.set_postfix(G_T=f"{record['eval']['G_T']:.3f}", rec=f"{record['eval']['rec']:.2f}")
        record["epoch_seconds"] = time.perf_counter() - t0
        history.append(record)
        eio.append_jsonl(out / "metrics.jsonl", record)
        _save_checkpoint(ckpt_path, config=dataclasses.asdict(config), epoch=epoch + 1, step=step,
                         model=model.state_dict(), optimizer=optimizer.state_dict(), alpha_boost=alpha_boost,
                         rng=_rng_state(shuffle), history=history)
    bar.close()

    final = evaluate(model, exp, config.eval_split, context=f"{out} final")
    violations = [dict(v, epoch=h["epoch"]) for h in history for v in h.get("eval", {}).get("bound_violations", [])]
    violations += final["bound_violations"]
    eio.atomic_write_json(out / "summary.json", {"config": config, "final": final, "epochs": n_epochs,
                                                 "bound_violations": violations,
                                                 "teacher": getattr(exp.teacher_result, "path", None)})
    return RunResult(config=config, model=model, history=history, final=final, out_dir=out,
                     bound_violations=violations)


def encode_checkpoint(path, split: str = "test", *, experiment: Experiment | None = None) -> dict:
    """Encode a split with a saved model: codes (N, d) and log_var (float64), the teacher (N, K),
    the witness scale and frame (d, K-1), and the run's config."""
    ck = _load_checkpoint(Path(path), "cpu")
    config = dataclasses.replace(config_from_dict(ck["config"]), device="cpu")
    exp = experiment if experiment is not None else prepare(config)
    model = build_model(config, exp.dataset.image_shape)
    model.load_state_dict(ck["model"])
    model.to(exp.device)
    mu, lv = encode_split(model, exp.x_train if split == "train" else exp.x_test)
    return {"codes": mu, "log_var": lv, "teacher": exp.teacher_np(split), "witness_scale": exp.witness.scale,
            "frame": exp.witness.P.copy(), "config": config}
