"""Benchmark: what the certified-information additions (T13) cost in a digits run's final evaluation.

Trains one digits vanilla model (train.epochs from the config, seed 0), then times, on the same
model, interleaved (medians of 3):

- ``evaluate(final=False)``: the per-epoch metrics (no held-out certificates);
- ``evaluate(final=True)`` as before this round: the mean-code fitted-witness and probe
  certificates (T2H) without bounds (``delta`` bounds and permutations switched off);
- ``evaluate(final=True)`` now: bounds and 999-permutation p-values on raw, fitted and probe, the
  posterior certificate (fitted and probe on sampled codes) and the certified active units.

Prints each time and the ratio now / before of the final evaluation (issue 21's target: at most
1.2). Asserts nothing (speed targets are never asserted in tests).

    .venv/bin/python bench/bench_final_eval.py
"""
from __future__ import annotations

import os
import statistics
import time
from unittest import mock

import torch

from empirical.configure import replace, resolve
from empirical.training import evaluation
from empirical.training.experiment import prepare
from empirical.training.loop import train


def timed(fn, repeats: int = 3) -> float:
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return statistics.median(out)


def main() -> None:
    torch.set_num_threads(1)
    c = resolve("digits", "vanilla", overrides={"train.device": "cpu"})
    exp = prepare(c)
    model = train(replace(c, out_dir="runs/bench/final-eval"), experiment=exp, progress=False, resume=False).model

    def before() -> None:   # the mean certificates alone, as the evaluation computed them before T13
        with mock.patch.object(evaluation, "PERMUTATIONS", 0):
            evaluation.heldout_certificates(model, exp, "test", evaluation.encode_split(model, exp.x_test)[0],
                                            None, fit_rows=c.train.heldout_fit_rows, seed=0, delta=c.train.delta,
                                            posterior_draws=c.train.posterior_draws)

    per_epoch = timed(lambda: evaluation.evaluate(model, exp, "test"))
    final_now = timed(lambda: evaluation.evaluate(model, exp, "test", final=True))
    heldout_before = timed(before)
    final_before = per_epoch + heldout_before          # the final evaluation minus T13's additions
    print(f"load average {os.getloadavg()[0]:.2f}; digits, {exp.x_test.shape[0]} test rows, "
          f"{c.train.heldout_fit_rows} fit rows")
    print(f"per-epoch evaluate:                  {per_epoch:7.3f} s")
    print(f"mean certificates without bounds:    {heldout_before:7.3f} s")
    print(f"final evaluate before (sum of both): {final_before:7.3f} s")
    print(f"final evaluate now:                  {final_now:7.3f} s   ratio now/before {final_now / final_before:.2f}")


if __name__ == "__main__":
    main()
