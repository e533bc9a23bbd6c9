"""Benchmark: the fitted witness's polar retraction (witness_theory.heldout._polar) and descent step.

``_polar`` calls LAPACK's dgesdd through scipy (since 2026-12-07) instead of ``np.linalg.svd``,
which calls the same routine behind ~5 us of wrapping. Times both polar factors on the descent's
frames (d x (K-1) for K <= 4, d <= K + 1) and one whole ``stiefel_descent`` on 40 fixed problems
(K in 2..4, n in 4..12, at most 300 steps), with one BLAS thread, medians of interleaved repetitions;
prints the ratio, the largest gap between the two factors and the microseconds per descent step.
Asserts nothing.

    .venv/bin/python bench/bench_polar.py
"""
from __future__ import annotations

import numpy as np
from bench_certify import interleaved  # the script's own directory is on sys.path
from threadpoolctl import threadpool_limits

from witness_theory import core, heldout


def numpy_polar(M: np.ndarray) -> np.ndarray:
    U, _, Wt = np.linalg.svd(M, full_matrices=False)     # the form _polar had before 2026-12-07
    return U @ Wt


def problems(rng, count: int = 40):
    out = []
    for _ in range(count):
        K, n = int(rng.integers(2, 5)), int(rng.integers(4, 13))
        d = K - 1 + int(rng.integers(0, 3))
        T = rng.dirichlet(np.ones(K), n)
        X = 2.0 * rng.standard_normal((n, d))
        w = rng.dirichlet(np.ones(n))
        P0 = np.linalg.qr(rng.standard_normal((d, K - 1)))[0]
        out.append((X, T, w, core.neg_entropy_rows(T), P0, core.simplex_vertices(K)))
    return out


def main() -> None:
    rng = np.random.default_rng(0)
    cases = problems(rng)
    frames = [P0 + 0.1 * rng.standard_normal(P0.shape) for (_, _, _, _, P0, _) in cases]
    gap = max(float(np.abs(heldout._polar(M) - numpy_polar(M)).max()) for M in frames)
    steps = sum(heldout.stiefel_descent(X, T, w, nh, P0, V, 2.0, 300, 1e-7)[2] for X, T, w, nh, P0, V in cases)
    with threadpool_limits(1):
        t = interleaved({
            "lapack": lambda: [heldout._polar(M) for M in frames],
            "numpy": lambda: [numpy_polar(M) for M in frames],
            "descent": lambda: [heldout.stiefel_descent(X, T, w, nh, P0, V, 2.0, 300, 1e-7)
                                for X, T, w, nh, P0, V in cases],
        }, repeats=7)
    n = len(frames)
    print(f"polar factor of {n} descent frames (one BLAS thread, median of 7, interleaved)")
    print(f"  _polar (LAPACK dgesdd)   {1e6 * t['lapack'] / n:7.2f} us per call")
    print(f"  np.linalg.svd            {1e6 * t['numpy'] / n:7.2f} us per call")
    print(f"  ratio _polar / numpy     {t['lapack'] / t['numpy']:7.2f}   largest |gap| {gap:.1e}")
    print(f"stiefel_descent: {steps} steps on {n} problems, {1e6 * t['descent'] / steps:.1f} us per step")


if __name__ == "__main__":
    main()
