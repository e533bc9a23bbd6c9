"""Benchmark: certificate evaluation (witness_theory.certify) on 70,000 x K float64 teachers.

Prints wall time per (K, d) (median of 3 runs, one BLAS thread and two) and, for the slowest
configuration, the top functions of a cProfile run. Aim: < 1 s. Prints, asserts nothing.

    .venv/bin/python bench/bench_certify.py
"""
from __future__ import annotations

import cProfile
import io
import pstats
import time

import numpy as np
from threadpoolctl import threadpool_limits

import witness_theory as wt

N = 70_000


def teacher(K: int, rng) -> np.ndarray:
    R = rng.dirichlet(np.full(K, 0.1), size=N)     # confident rows, like a GMM's responsibilities
    return 0.99 * R + 0.01 / K                      # the teacher floor (full support)


def timed(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def main() -> None:
    rng = np.random.default_rng(0)
    rows = []
    slowest = None
    print(f"witness_theory.certify on N = {N} rows, float64 (median of 3)")
    print(f"{'K':>4} {'d':>4} {'1 thread s':>11} {'2 threads s':>12}")
    for K in (10, 50, 100):
        T = teacher(K, rng)
        for d in (K - 1, K + 7, K + 15):
            witness = wt.Witness(K, d, 4.0)
            codes = wt.exact_embedding(T, witness) + 0.5 * rng.normal(size=(N, d))
            run = lambda: wt.certify(T, codes, witness)  # noqa: E731
            with threadpool_limits(1):
                t1 = timed(run)
            with threadpool_limits(2):
                t2 = timed(run)
            rows.append((K, d, t1, t2))
            print(f"{K:>4} {d:>4} {t1:>11.3f} {t2:>12.3f}")
            if slowest is None or t1 > slowest[0]:
                slowest = (t1, K, d, T, codes, witness)
    t1, K, d, T, codes, witness = slowest
    print(f"\nslowest: K={K} d={d} {t1:.3f} s ({'within' if t1 < 1 else 'OVER'} the 1 s aim); profile (1 thread):")
    prof = cProfile.Profile()
    with threadpool_limits(1):
        prof.enable()
        wt.certify(T, codes, witness)
        prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(12)
    print(out.getvalue())


if __name__ == "__main__":
    main()
