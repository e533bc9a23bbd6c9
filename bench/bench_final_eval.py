"""Benchmark: what the certified-information additions (T13) cost in a digits run's final evaluation.

Trains one digits vanilla model (train.epochs from the config, seed 0), then times, on the same
model (11 alternating rounds of the two; the median of the rounds' ratios), with torch and BLAS
at one thread each, as a worker of the main job's 2-worker sweep runs it (``empirical.sweep._pin_threads``):

- ``evaluate(final=True)`` before T13: everything the final evaluation computed before this round
  (the per-epoch metrics, the MI spread, the T11 check, the mean-code fitted-witness and probe
  certificates), with T13's additions switched off: no permutation p-values, no posterior
  certificate, no certified active units (the mean certificates' LCBs stay: they are one betting
  bound each);
- ``evaluate(final=True)`` now: bounds and 999-permutation p-values on raw, fitted and probe, the
  posterior certificate (fitted and probe on sampled codes) and the certified active units.

Until 2026-12-06 "before" was the per-epoch evaluation plus the mean certificates alone, which left
the MI spread and the T11 check (both older than T13) out of the base; that figure is printed too.
Prints each time and the ratio now / before (issue 21's target: at most 1.2). Asserts nothing
(speed targets are never asserted in tests).

    .venv/bin/python bench/bench_final_eval.py
"""
from __future__ import annotations

import os
import statistics
import time
from unittest import mock

import torch
from threadpoolctl import threadpool_limits

from empirical.configure import replace, resolve
from empirical.training import evaluation
from empirical.training.experiment import prepare
from empirical.training.loop import train

ROUNDS = 11   # alternating rounds of now and before


def timed(fn, repeats: int = 5) -> float:
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
    mean_only = evaluation.heldout_certificates

    def without_posterior(model, experiment, split, codes_eval, log_var_eval=None, **kw):
        return mean_only(model, experiment, split, codes_eval, None, **kw)

    def before() -> None:   # the final evaluation with T13's additions switched off
        with mock.patch.object(evaluation, "PERMUTATIONS", 0), \
                mock.patch.object(evaluation, "heldout_certificates", without_posterior):
            evaluation.evaluate(model, exp, "test", final=True)

    def mean_certificates() -> None:   # the old base's second part: the mean certificates alone
        with mock.patch.object(evaluation, "PERMUTATIONS", 0):
            mean_only(model, exp, "test", evaluation.encode_split(model, exp.x_test)[0], None,
                      fit_rows=c.train.heldout_fit_rows, seed=0, delta=c.train.delta,
                      posterior_draws=c.train.posterior_draws)

    with threadpool_limits(limits=1):
        now = lambda: evaluation.evaluate(model, exp, "test", final=True)  # noqa: E731
        now()                                                            # warm: imports, T11's cached teacher half
        # now and before alternate, round by round: a slow spell of this shared machine then slows
        # both sides of a round, and the median of the rounds' ratios is what is compared
        rounds = [(timed(now, 1), timed(before, 1)) for _ in range(ROUNDS)]
        per_epoch, heldout_before = timed(lambda: evaluation.evaluate(model, exp, "test")), timed(mean_certificates)
    final_now = statistics.median(r[0] for r in rounds)
    final_before = statistics.median(r[1] for r in rounds)
    ratios = sorted(a / b for a, b in rounds)
    old_before = per_epoch + heldout_before
    print(f"load average {os.getloadavg()[0]:.2f}; digits, {exp.x_test.shape[0]} test rows, "
          f"{c.train.heldout_fit_rows} fit rows; torch and BLAS at one thread; {ROUNDS} alternating rounds")
    print(f"final evaluate before T13:           {final_before:7.3f} s (median)")
    print(f"final evaluate now:                  {final_now:7.3f} s (median)")
    print(f"ratio now/before: median of the rounds {statistics.median(ratios):.2f} "
          f"(rounds {ratios[0]:.2f}..{ratios[-1]:.2f}); of the medians {final_now / final_before:.2f}")
    print(f"old base (per-epoch {per_epoch:.3f} s + mean certificates {heldout_before:.3f} s): {old_before:.3f} s, "
          f"ratio {final_now / old_before:.2f}")


if __name__ == "__main__":
    main()
