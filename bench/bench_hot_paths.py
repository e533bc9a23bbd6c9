"""Benchmark: the three library paths that dominate the thorough Hypothesis profile, timed on fixed
small problems like the proofs' (issue 20), and their outputs kept so that a change can be checked
to give the same floats.

- ``descent``: ``heldout.stiefel_descent`` from a random frame, 1, 2, 4, 8 and up to 2,000 steps (what
  ``proofs/test_mutants.py::test_stiefel_descent_is_monotone_and_stationary`` runs), 250 problems with
  K in 2..4, n in 4..12;
- ``min_energy``: ``frontier.min_energy_point`` on 300 teachers of 1..8 rows, K in 2..6, at losses from
  0 to 0.9 L_0 (root searches, the dual maximisation below the loss's rounding), then
  ``margin_energy_frontier``, ``frontier_logits`` and ``frontier_dual`` on 100 of them;
- ``fit``: ``FittedWitness`` fitted (the proofs' fast settings and the defaults) and certified on 60
  problems of 6..60 rows.

Each path runs ``--repeat`` times; the minimum seconds are printed (the machine's noise only adds).
``--save FILE`` writes every output (floats, arrays, records) to FILE; ``--compare FILE`` says how many
outputs differ from FILE's, bit for bit. So: run with ``--save`` at the base commit (a git worktree),
then with ``--compare`` at the change, on the same machine. One BLAS thread, as in the proofs.

    .venv/bin/python bench/bench_hot_paths.py [--repeat 3] [--save F | --compare F]
"""
from __future__ import annotations

import argparse
import pickle
import sys
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import witness_theory as wt  # noqa: E402 -- after the repository root is on sys.path
from witness_theory import core, frontier, heldout  # noqa: E402


def descent_cases(count: int = 250):
    rng = np.random.default_rng(5)
    cases = []
    for i in range(count):
        K, extra_d, n = int(rng.integers(2, 5)), int(rng.integers(0, 3)), int(rng.integers(4, 13))
        beta = float(rng.uniform(0.5, 4.0))
        r = np.random.default_rng(i)
        d = K - 1 + extra_d
        T = r.dirichlet(np.ones(K) * 2.0, n)
        X = 2.0 * r.standard_normal((n, d))
        w = r.dirichlet(np.ones(n))
        P0 = np.linalg.qr(r.standard_normal((d, K - 1)))[0]
        cases.append((X, T, w, core.neg_entropy_rows(T), P0, core.simplex_vertices(K), beta))
    return cases


def run_descent(cases) -> list:
    out = []
    for X, T, w, neg_h, P0, V, beta in cases:
        for steps in (1, 2, 4, 8, 2000):
            P, loss, it = heldout.stiefel_descent(X, T, w, neg_h, P0, V, beta, steps, 1e-7)
            out.append((P.tobytes(), loss, it))
    return out


def frontier_cases(count: int = 300):
    rng = np.random.default_rng(1)
    cases = []
    for _ in range(count):
        n, K = int(rng.integers(1, 9)), int(rng.integers(2, 7))
        T = rng.dirichlet(np.ones(K) * float(rng.choice([0.3, 1.0, 5.0])), n)
        T = np.maximum(T, 1e-300)
        T /= T.sum(axis=1, keepdims=True)
        w = rng.dirichlet(np.ones(n))
        frac = float(rng.choice([0.0, 1e-15, 1e-6, 0.01, 0.3, 0.9])) * float(rng.uniform(0.5, 1.0))
        cases.append((T, w, core.Witness(K, K - 1, float(rng.uniform(0.05, 3.0))), frac))
    return cases


def run_min_energy(cases) -> list:
    out = []
    for T, w, W, frac in cases:
        tch = core.Teacher(T, w)
        out.append(frontier.min_energy_point(tch, W, frac * frontier.loss_at_zero(tch)))
    for T, w, W, _ in cases[:100]:
        out.append(frontier.margin_energy_frontier(T, W, w).dual.tobytes())
        a, r = frontier.frontier_logits(T, 2.5)
        out.append((a.tobytes(), r))
        out.append(frontier.frontier_dual(T, W, 0.7, w)[:3])
    return out


def fit_cases(count: int = 60):
    rng = np.random.default_rng(3)
    cases = []
    for i in range(count):
        K = int(rng.integers(2, 6))
        d, n = K - 1 + int(rng.integers(0, 4)), int(rng.integers(6, 60))
        T = rng.dirichlet(np.full(K, 0.5), n)
        X = float(rng.choice([0.0, 1.0, 5.0])) * T @ rng.standard_normal((K, d)) + rng.standard_normal((n, d))
        cases.append((T, X, i))
    return cases


def run_fit(cases) -> list:
    out = []
    for T, X, seed in cases:
        for settings in (dict(max_iter=6, scales=(0.5, 1.0, 2.0)), {}):
            est = wt.FittedWitness(seed=seed, **settings).fit(T, X, np.arange(len(T)))
            out.append((est.witness_.scale, est.witness_.A.tobytes(), est.fit_loss_, est.fit_margin_))
            out.append(repr(est.certify(T, X, np.arange(len(T)) + 1000)))
    return out


PATHS = {"descent": (descent_cases, run_descent), "min_energy": (frontier_cases, run_min_energy),
         "fit": (fit_cases, run_fit)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3, help="runs of each path; the minimum is printed")
    group = ap.add_mutually_exclusive_group()
    group.add_argument("--save", type=Path, help="write every output here (at the base)")
    group.add_argument("--compare", type=Path, help="compare every output with this file's, bit for bit")
    args = ap.parse_args(argv)
    outputs = {}
    with threadpool_limits(1):
        for name, (make, run) in PATHS.items():
            cases = make()
            seconds = []
            for _ in range(max(1, args.repeat)):
                t0 = time.perf_counter()
                outputs[name] = run(cases)
                seconds.append(time.perf_counter() - t0)
            print(f"{name:10s} {min(seconds):7.3f} s (min of {len(seconds)}: "
                  f"{', '.join(f'{s:.3f}' for s in seconds)}), {len(outputs[name])} outputs")
    if args.save:
        args.save.write_bytes(pickle.dumps(outputs))
        print(f"saved to {args.save}")
    if args.compare:
        base = pickle.loads(args.compare.read_bytes())
        for name, got in outputs.items():
            want = base.get(name, [])
            differ = sum(repr(a) != repr(b) for a, b in zip(got, want)) + abs(len(got) - len(want))
            print(f"{name:10s} {differ} of {len(got)} outputs differ from {args.compare}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
