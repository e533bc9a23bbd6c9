"""The training loop: one loop for every method (``empirical.methods``), which it never names.

Per batch: the method's optional inner optimisation (``before_step``), its loss terms (encode,
reparameterise, decode, loss: ``Method.loss``), backward, its gradient edits
(``after_backward``), the optimiser step. Per epoch: the method's state update (``end_epoch``)
and an evaluation. Every run seeds python, numpy and torch, writes ``config.json`` (the resolved
config tree), ``versions.json``, ``metrics.jsonl`` (one line per epoch), ``summary.json``
(atomic) and ``checkpoint.pt`` (atomic, every epoch), so a run killed mid-way and resumed ends
with the same numbers.
"""
from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from empirical import io as eio
from empirical.config import ExperimentConfig, TrainConfig
from empirical.configure import ABSENT, config_from_dict, config_to_dict, tree_changes, validate
from empirical.methods import Batch, Method, Run, get_method
from empirical.models.vae import VAE
from empirical.training.checkpoints import load_checkpoint, rng_state, save_checkpoint, seed_everything, set_rng_state
from empirical.training.evaluation import evaluate
from empirical.training.experiment import Experiment, build_model, check_experiment, prepare

__all__ = ["RunResult", "train", "make_method", "total_epochs", "run_dir"]


@dataclass
class RunResult:
    config: ExperimentConfig
    model: VAE
    history: list
    final: dict
    out_dir: Path
    bound_violations: list


def _teacher_path(exp: Experiment) -> str | None:
    """The absolute path of the teacher file the run used (a cache file or --teacher FILE), for the
    checkpoint and summary.json: a relative one would name another file from another directory."""
    path = getattr(exp.teacher_result, "path", None)
    return None if path is None else str(Path(path).expanduser().resolve())


def make_method(config: ExperimentConfig) -> Method:
    return get_method(config.method_name)(config.method, config.train.kl_weight)


def total_epochs(config: ExperimentConfig) -> int:
    return config.train.epochs + make_method(config).extra_epochs()


def make_optimizer(model: torch.nn.Module, tc: TrainConfig) -> torch.optim.Optimizer:
    """The optimiser of ``train.optimizer`` with ``train.lr`` and ``train.weight_decay`` (torch's
    other defaults: Adam betas (0.9, 0.999), eps 1e-8; RMSprop alpha 0.99, eps 1e-8)."""
    if tc.optimizer == "rmsprop":
        return torch.optim.RMSprop(model.parameters(), lr=tc.lr, weight_decay=tc.weight_decay, momentum=tc.momentum)
    return torch.optim.Adam(model.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)


def run_dir(config: ExperimentConfig) -> Path:
    if config.out_dir:
        return Path(config.out_dir)
    return (Path("runs/train") / eio.run_name(config.data.name)
            / f"{config.method_name}-kl{config.train.kl_weight:g}-seed{config.train.seed}")


#: Keys a resumed run may change (they do not change what is computed, or only extend it).
_RESUME_IGNORED = ("out_dir", "train.device", "train.epochs", "train.eval_every", "train.cpu_threads",
                   "train.mi_full_max_epoch", "train.heldout_fit_rows", "train.checkpoint_seconds")


def _config_diff(saved: dict, config: ExperimentConfig) -> dict:
    """Keys whose saved value differs from ``config``'s. A key the saved config does not have was
    added to the package after the run was written: the run predates it and is judged on the keys
    it has (a new key's default describes what the older code did, e.g. teacher.selection)."""
    now = config_to_dict(validate(config_from_dict(saved)))      # the saved tree, normalised as a run writes it
    recorded = {s: ({k: v for k, v in values.items() if k in (saved.get(s) or {})} if isinstance(values, dict)
                    else values) for s, values in now.items()}   # only the keys it was written with
    return {k: change for k, change in tree_changes(recorded, config_to_dict(config), ignore=_RESUME_IGNORED).items()
            if change[0] is not ABSENT}


def train(config: ExperimentConfig, *, experiment: Experiment | None = None, init_from=None, resume: bool = True,
          step_callback: Callable | None = None, progress: bool = True) -> RunResult:
    """Train one VAE with ``config.method_name``; returns the run's history and final evaluation.

    ``train.cpu_threads`` is applied with torch.set_num_threads for the run and restored after.
    """
    config = validate(config)
    previous_threads = torch.get_num_threads()
    if config.train.cpu_threads:
        torch.set_num_threads(config.train.cpu_threads)
    try:
        return _train(config, experiment, init_from, resume, step_callback, progress)
    finally:
        torch.set_num_threads(previous_threads)


def _train(config, experiment, init_from, resume, step_callback, progress) -> RunResult:
    from tqdm.auto import tqdm

    exp = experiment if experiment is not None else prepare(config)
    check_experiment(config, exp)
    exp.config = config
    tc, out = config.train, run_dir(config)
    out.mkdir(parents=True, exist_ok=True)
    ckpt_path = out / "checkpoint.pt"
    seed_everything(tc.seed)
    model = build_model(config, exp.dataset.image_shape).to(exp.device)
    optimizer = make_optimizer(model, tc)
    method = make_method(config)
    shuffle = torch.Generator().manual_seed(tc.seed)
    start, step, history = 0, 0, []
    if resume and ckpt_path.exists():
        ck = load_checkpoint(ckpt_path, exp.device)
        diff = _config_diff(ck["config"], config)
        if diff:
            raise ValueError(f"{ckpt_path} was written with a different config {diff}; "
                             "use another out_dir or resume=False")
        model.load_state_dict(ck["model"])
        optimizer.load_state_dict(ck["optimizer"])
        method.load_state_dict(ck["method_state"])
        set_rng_state(ck["rng"], shuffle)
        start, step, history = ck["epoch"], ck["step"], ck["history"]
        # a kill between the JSON line and the checkpoint must not leave a duplicate line
        eio.atomic_write_text(out / "metrics.jsonl", "".join(json.dumps(eio.to_jsonable(h)) + "\n" for h in history))
    else:
        if init_from is not None:
            model.load_state_dict(load_checkpoint(Path(init_from), exp.device)["model"])
        (out / "metrics.jsonl").unlink(missing_ok=True)
    eio.atomic_write_json(out / "config.json", config_to_dict(config))
    eio.atomic_write_json(out / "versions.json", eio.library_versions())

    n, n_epochs = exp.x_train.shape[0], tc.epochs + method.extra_epochs()
    n_eval = (exp.x_train if tc.eval_split == "train" else exp.x_test).shape[0]

    def batch_of(idx: torch.Tensor) -> Batch:
        idx = idx.to(exp.device)
        return Batch(exp.x_train[idx], exp.T_train[idx], exp.exact_codes_train[idx], idx)

    run = Run(head=exp.head, kl_weight=tc.kl_weight, teacher_information_train=exp.teacher_information_train,
              optimizer=optimizer, n_batches=-(-n // tc.batch_size), device=exp.device,
              sample_batch=lambda: batch_of(torch.randperm(n)[:tc.batch_size]),
              evaluate=lambda split=tc.eval_split, full_mi=n_eval <= tc.mi_full_max_epoch: evaluate(
                  model, exp, split, context=f"{out} method", full_mi=full_mi),
              model=model, heldout_x=exp.x_train if tc.eval_split == "train" else exp.x_test)
    bar = tqdm(range(start, n_epochs), initial=start, total=n_epochs, disable=not progress,
               desc=f"{config.data.name}/{config.method_name}/seed{tc.seed}", file=sys.stderr)
    last_saved = time.monotonic()                  # train.checkpoint_seconds counts from the start
    for epoch in bar:
        model.train()
        method.start_epoch(epoch, run)
        sums: dict[str, torch.Tensor] = {}
        n_batches, t0 = 0, time.perf_counter()
        for idx in torch.randperm(n, generator=shuffle).split(tc.batch_size):
            batch = batch_of(idx)
            method.before_step(model, batch, epoch, run)
            losses = method.loss(model, batch, epoch, run)      # encode, reparameterise, decode, loss
            optimizer.zero_grad(set_to_none=True)
            losses["total"].backward()
            method.after_backward(model, epoch, run)
            if tc.grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), tc.grad_clip)
            if step_callback is not None:
                step_callback(step, model, losses)
            optimizer.step()
            step, n_batches = step + 1, n_batches + 1
            for k, v in losses.items():  # on-device float64 sums: no host sync per step
                sums[k] = sums.get(k, 0.0) + v.detach().double()
        means = {f"train_{k}": float(v) / n_batches for k, v in sums.items()}
        record = {"epoch": epoch + 1, **means,
                  "running_margin": exp.teacher_information_train - float(sums["align"]) / n_batches}
        record.update(method.end_epoch(epoch, record, run))
        if (epoch + 1) % tc.eval_every == 0 or epoch + 1 == n_epochs:
            record["eval"] = evaluate(model, exp, tc.eval_split, context=f"{out} epoch {epoch + 1}",
                                      full_mi=n_eval <= tc.mi_full_max_epoch)
            bar.set_postfix(G_T=f"{record['eval']['G_T']:.3f}", rec=f"{record['eval']['rec']:.2f}")
        record["epoch_seconds"] = time.perf_counter() - t0
        history.append(record)
        eio.append_jsonl(out / "metrics.jsonl", record)
        # the resume above rewrites metrics.jsonl from the checkpoint's history, so the epochs after
        # the last checkpoint are recomputed, to the same numbers, by a resumed run
        if epoch + 1 == n_epochs or time.monotonic() - last_saved >= tc.checkpoint_seconds:
            save_checkpoint(ckpt_path, config=config_to_dict(config), epoch=epoch + 1, step=step,
                            model=model.state_dict(), optimizer=optimizer.state_dict(),
                            teacher_hash=exp.teacher_result.teacher.content_hash,
                            teacher_path=_teacher_path(exp),
                            method_state=method.state_dict(), rng=rng_state(shuffle), history=history)
            last_saved = time.monotonic()
    bar.close()

    final = evaluate(model, exp, tc.eval_split, context=f"{out} final", final=True)
    violations = [dict(v, epoch=h["epoch"]) for h in history for v in h.get("eval", {}).get("bound_violations", [])]
    violations += final["bound_violations"]
    eio.atomic_write_json(out / "summary.json", {"config": config_to_dict(config), "final": final,
                                                 "epochs": n_epochs, "bound_violations": violations,
                                                 "teacher": _teacher_path(exp),
                                                 "teacher_hash": exp.teacher_result.teacher.content_hash,
                                                 "dataset": {"scaling": getattr(exp.dataset, "scaling", None),
                                                             "notes": list(getattr(exp.dataset, "notes", ()))}})
    return RunResult(config=config, model=model, history=history, final=final, out_dir=out,
                     bound_violations=violations)
