"""Benchmark: wall time of the default teacher search (no cache) on digits and Fashion-MNIST.

Aim (issue 13): Fashion-MNIST's default search, held-out selection included, <= 20 s on a
quiet 2-core machine (the EM fits run in parallel on all cores); digits a few seconds.
Prints the chosen teacher with its training, held-out (cross-validated within the training
split) and test teacher information, the wall time, the CPU seconds of the EM fits (a
measure that does not depend on how busy the machine is) and the load average, so a
timing taken on a shared machine says so. Asserts nothing.

    .venv/bin/python bench/bench_teacher.py [--skip-digits] [--skip-fashion] [--n-jobs N] [--selection heldout|train]
                                            [--full-grid] [--report-dir DIR]

``--selection`` overrides the data set's registered rule (default: the registry's).
``--full-grid`` searches Fashion-MNIST on the 24-candidate grid its registry grid was cut from
(the evidence for the cut). ``--report-dir`` writes each data set's candidate table there
(``<name>_teacher_search.md``).
"""
from __future__ import annotations

import dataclasses
import os
import sys
import time

import witness_theory as wt
from empirical.data import registry
from empirical.data.loaders import load_dataset
from empirical.data.registry import default_config
from empirical.data.teacher import TeacherSearch, report_markdown
from empirical.io import atomic_write_text


def _fmt(x) -> str:
    return "n/a" if x is None else f"{x:.4f}"


def bench(name: str, n_jobs: int = -1, selection: str | None = None, full_grid: bool = False,
          report_dir: str | None = None) -> None:
    t0 = time.perf_counter()
    try:
        ds = load_dataset(name)
    except FileNotFoundError as exc:
        print(f"{name}: skipped ({exc})")
        return
    t_load = time.perf_counter() - t0
    cfg = registry._FASHION_FULL_GRID if full_grid and name == "fashion-mnist" else default_config(name)
    if selection is not None:
        cfg = dataclasses.replace(cfg, selection=selection)
    load_before = os.getloadavg()[0]
    t0, c0 = time.perf_counter(), time.process_time()
    search = TeacherSearch.from_config(cfg, n_jobs=n_jobs).fit(ds.x_train)
    wall_search = time.perf_counter() - t0
    main_cpu = time.process_time() - c0
    I_T_test = wt.teacher_information(search.teacher_.responsibilities(ds.x_test))
    chosen = search.report_[search.best_index_]
    fit_cpu = sum(r["fit_time_s"] for r in search.report_)
    print(f"{name}: selection rule {cfg.selection!r}, {len(search.report_)} candidates, fit on "
          f"{search.fit_indices_.size} of {ds.x_train.shape[0]} rows "
          f"(held-out: {search.heldout_method_}); load {t_load:.1f} s; search {wall_search:.1f} s wall "
          f"(n_jobs={n_jobs}); CPU: EM fits {fit_cpu:.1f} s in workers, main process {main_cpu:.1f} s; "
          f"1-min load average {load_before:.1f} before / {os.getloadavg()[0]:.1f} after on {os.cpu_count()} cores")
    print(f"  chosen K={chosen['K']} pca_dim={chosen['pca_dim']} cov={chosen['covariance_type']} seed={chosen['seed']} "
          f"I_T train {chosen['I_T']:.4f} held-out {_fmt(chosen['I_T_heldout'])} test {I_T_test:.4f} "
          f"(gap {_fmt(chosen['I_T_gap'])}) H(Tbar)={chosen['H_Tbar']:.4f} E_T={chosen['E_T']:.4f} "
          f"exact-code energy={chosen['exact_code_energy']:.4f} (budget {cfg.energy_budget}, beta {cfg.witness_scale}); "
          f"teacher content hash {search.teacher_.content_hash[:16]}")
    if report_dir:
        text = report_markdown(search.report_, title=f"Teacher candidates: {name} ({len(search.report_)}, "
                               f"held-out: {search.heldout_method_})", witness_scale=cfg.witness_scale,
                               energy_budget=cfg.energy_budget)
        cmd = "python bench/bench_teacher.py " + " ".join(sys.argv[1:])
        atomic_write_text(os.path.join(report_dir, f"{name}_teacher_search.md"),
                          f"{text}\n\nProduced by `{cmd}`; search {wall_search:.1f} s wall, EM fits "
                          f"{fit_cpu:.1f} CPU-s, 1-min load average {load_before:.1f}.\n")


if __name__ == "__main__":
    jobs = int(sys.argv[sys.argv.index("--n-jobs") + 1]) if "--n-jobs" in sys.argv else -1
    rule = sys.argv[sys.argv.index("--selection") + 1] if "--selection" in sys.argv else None
    full = "--full-grid" in sys.argv
    out = sys.argv[sys.argv.index("--report-dir") + 1] if "--report-dir" in sys.argv else None
    if "--skip-digits" not in sys.argv:
        bench("digits", jobs, rule, full, out)
    if "--skip-fashion" not in sys.argv:
        bench("fashion-mnist", jobs, rule, full, out)
