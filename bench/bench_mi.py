"""Benchmark: the matched-sample MI's pair pass (witness_theory.collapse_metrics._matched_on).

Every evaluation of a run computes it (minibatch and full-data variants; the final evaluation
also its spread over 8 draws): on the main job (digits, 360 x 16 test codes) it was ~15% of a
run's seconds. Times, on the same (B, M, d) block, the two ways of forming Q_ij = sum_u
(z_iu - mu_ju)^2 / v_ju from the squared differences -- weight in place then reduce along the
short last axis (before 2026-12-07) and one einsum contraction (now), each from the differences
z_i - mu_j -- and the whole estimator (matched MI ms: its full-data and 128-row minibatch variants),
with one BLAS thread, medians of interleaved repetitions; prints the ratio. Asserts nothing.

    .venv/bin/python bench/bench_mi.py
"""
from __future__ import annotations

import numpy as np
from bench_certify import interleaved  # the script's own directory is on sys.path
from threadpoolctl import threadpool_limits

from witness_theory import collapse_metrics as cm


def row(n: int, d: int, rng) -> None:
    mu, lv = rng.normal(size=(n, d)), 0.3 * rng.normal(size=(n, d))
    z = mu + rng.normal(size=(n, d))
    inv_var = np.exp(-lv)

    def squared():                           # (z_i - mu_j)^2, (N, N, d): both forms start here
        q = z[:, None, :] - mu[None]
        return np.square(q, out=q)

    def reduce_form():                       # before 2026-12-07: weight in place, then reduce
        q = squared()
        q *= inv_var[None]
        return q.sum(axis=2)

    def einsum_form():                       # now: one contraction
        return np.einsum("bmd,md->bm", squared(), inv_var)

    gap = float(np.max(np.abs(reduce_form() - einsum_form()) / np.abs(reduce_form())))
    with threadpool_limits(1):
        t = interleaved({"reduce": reduce_form, "einsum": einsum_form,
                         "mi": lambda: cm.matched_mutual_information(mu, lv, z=z, batch_size=128)}, repeats=31)
    print(f"{n:>5} {d:>3} {t['reduce'] * 1e3:>10.2f} {t['einsum'] * 1e3:>10.2f} "
          f"{t['reduce'] / t['einsum']:>6.2f} {t['mi'] * 1e3:>21.2f} {gap:>13.1e}")


def main() -> None:
    rng = np.random.default_rng(0)
    print(f"{'N':>5} {'d':>3} {'reduce ms':>10} {'einsum ms':>10} {'ratio':>6} {'matched MI ms':>21} "
          f"{'max rel. gap':>13}")
    for n, d in ((128, 16), (360, 16), (1000, 32)):
        row(n, d, rng)


if __name__ == "__main__":
    main()
