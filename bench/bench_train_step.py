"""Cost of the witness alignment: an ``rst`` training step against a ``vanilla`` step.

Same model, same batch, same optimiser, measured in one process with the two methods
interleaved (vanilla block, rst block, vanilla block, ...) so drifting machine load hits both
alike; the ratio reported is median(rst block) / median(vanilla block). A step is
Method.loss + zero_grad + backward + optimizer.step (what the training loop does). Note that
``vanilla`` also evaluates L_TS on the detached mean (the witness measures every run), so the
ratio isolates the gradient through the witness. Aim: <= 1.05.

    .venv/bin/python bench/bench_train_step.py [--dataset digits] [--reps 40] [--inner 20]
    .venv/bin/python bench/bench_train_step.py --claims-time   # also time the digits claims end to end
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time

import torch

from empirical.configure import replace


def step_time(model, method, batch, run, inner: int) -> float:
    t0 = time.perf_counter()
    optimizer = run.optimizer
    for _ in range(inner):
        losses = method.loss(model, batch, method.extra_epochs() + 1, run)
        optimizer.zero_grad(set_to_none=True)
        losses["total"].backward()
        optimizer.step()
    return (time.perf_counter() - t0) / inner


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="digits")
    p.add_argument("--reps", type=int, default=40)
    p.add_argument("--inner", type=int, default=20, help="steps per timed block")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--claims-time", action="store_true", help="also run `claims --dataset digits` and time it")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)

    from empirical.configure import resolve
    from empirical.methods import Batch, Run
    from empirical.training.experiment import build_model, prepare
    from empirical.training.loop import make_method

    overrides = {"train.device": "cpu", "data.limit": args.limit}
    base = resolve(args.dataset, "vanilla", overrides=overrides)
    exp = prepare(base)
    torch.manual_seed(0)
    model = build_model(base, exp.dataset.image_shape)
    optimizer = torch.optim.Adam(model.parameters(), lr=base.train.lr)
    idx = torch.arange(min(base.train.batch_size, exp.x_train.shape[0]))
    batch = Batch(exp.x_train[idx], exp.T_train[idx], exp.exact_codes_train[idx], idx)
    run = Run(head=exp.head, kl_weight=base.train.kl_weight, teacher_information_train=exp.teacher_information_train,
              optimizer=optimizer, n_batches=1, sample_batch=lambda: batch, evaluate=dict, device=exp.device)
    methods = {m: make_method(replace(base, method_name=m)) for m in ("vanilla", "rst")}
    for m in methods:  # warm-up
        step_time(model, methods[m], batch, run, args.inner)
    times = {"vanilla": [], "rst": []}
    for _ in range(args.reps):
        for m in ("vanilla", "rst"):
            times[m].append(step_time(model, methods[m], batch, run, args.inner))
    med = {m: statistics.median(v) for m, v in times.items()}
    ratio = med["rst"] / med["vanilla"]
    print(f"{args.dataset}: batch {len(idx)}, model hidden {base.model.hidden}, d {base.model.latent_dim}, K {exp.witness.K}, "
          f"{args.threads} thread(s), {args.reps} interleaved blocks of {args.inner} steps")
    print(f"median step: vanilla {med['vanilla'] * 1e3:.3f} ms, rst {med['rst'] * 1e3:.3f} ms, "
          f"ratio rst/vanilla {ratio:.3f} (aim <= 1.05)")
    if args.claims_time:
        from empirical.cli import main as cli_main
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            rc = cli_main(["claims", "--dataset", "digits", "--out", f"{tmp}/out", "--runs", f"{tmp}/runs",
                           "--device", "cpu"])
            print(f"digits claims end to end: {time.perf_counter() - t0:.1f} s (exit {rc}; budget 300 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
