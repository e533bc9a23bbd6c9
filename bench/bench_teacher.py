"""Benchmark: wall time of the default teacher search (no cache) on digits and Fashion-MNIST.

Aim: Fashion-MNIST <= 2 min on the 2-core machine, digits a few seconds. Prints the chosen
teacher and the time; asserts nothing.

    .venv/bin/python bench/bench_teacher.py [--skip-fashion]
"""
from __future__ import annotations

import sys
import time

from empirical.data.loaders import load_dataset
from empirical.data.teacher import default_config, teacher_for


def bench(name: str) -> None:
    t0 = time.perf_counter()
    try:
        ds = load_dataset(name)
    except FileNotFoundError as exc:
        print(f"{name}: skipped ({exc})")
        return
    t_load = time.perf_counter() - t0
    cfg = default_config(name)
    t0 = time.perf_counter()
    res = teacher_for(ds, cache_dir=None)
    wall = time.perf_counter() - t0
    chosen = next(r for r in res.report if r["chosen"])
    meta = res.teacher.metadata
    print(f"{name}: {len(res.report)} candidates, fit on {meta['n_fit_rows']} of {ds.x_train.shape[0]} rows; "
          f"load {t_load:.1f} s, search + test responsibilities {wall:.1f} s "
          f"(search {meta['search_time_s']:.1f} s, sum of GMM fits {sum(r['fit_time_s'] for r in res.report):.1f} s)")
    print(f"  chosen K={chosen['K']} pca_dim={chosen['pca_dim']} cov={chosen['covariance_type']} seed={chosen['seed']} "
          f"I_T={chosen['I_T']:.4f} (test {meta['I_T_test']:.4f}) H(Tbar)={chosen['H_Tbar']:.4f} "
          f"E_T={chosen['E_T']:.4f} exact-code energy={chosen['exact_code_energy']:.4f} "
          f"(budget {cfg.energy_budget}, beta {cfg.witness_scale})")


if __name__ == "__main__":
    bench("digits")
    if "--skip-fashion" not in sys.argv:
        bench("fashion-mnist")
