"""A grid of training runs (trials): the layer ``claims`` and ``compare`` run their grids through.
Each trial is a full config of the tree; :func:`run_trials` hands them to the sweep layer
(``empirical.sweep``), which gives each its own directory (resolved config, status, checkpoint,
atomic result) named by a hash of its config, so a re-run reuses finished trials and resumes
interrupted ones, on this machine (a process pool) or on a SLURM cluster; one record per trial
comes back (the final evaluation and the bounds)."""
from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from empirical.config import ExperimentConfig
from empirical.methods import method_names
from empirical.sweep import ExecutorSpec, SweepError, run_sweep
from empirical.training.experiment import Experiment

__all__ = ["Trial", "trial_name", "run_trials", "method_order", "runs_root"]


@dataclass(frozen=True)
class Trial:
    group: str                 # the table row this trial belongs to (e.g. "vanilla kl 4")
    config: ExperimentConfig
    task: str = "train"        # train: one run; or a task registered with empirical.sweep.register_task (rescue)
    task_config: dict | None = None   # the task's own settings (rescue: RescueConfig as a dict)


def trial_name(method: str, kl_weight: float, seed: int) -> str:
    return f"{method}-kl{kl_weight:g}-seed{seed}"



def method_order(name: str) -> int:
    names = method_names()
    return names.index(name) if name in names else len(names)


def run_trials(trials: Sequence[Trial], *, experiment: Experiment | Sequence[Experiment] | None = None,
               fresh: bool = False, progress: bool = False, log: Callable[[str], None] = print,
               on_record: Callable[[dict], None] | None = None, sweep_dir: str | Path | None = None,
               executor: ExecutorSpec | None = None, retry_failed: bool = False) -> list[dict]:
    """Train every trial through the sweep layer (``empirical.sweep``); one record each, in trial order.

    Each trial's directory is its ``out_dir`` (else ``<sweep_dir>/<trial id>/``); a trial with a result is reused
    (unless ``fresh``), an interrupted one resumes from its checkpoint. ``sweep_dir`` defaults to
    the common parent of the trials' ``out_dir``s. ``executor``: local (``workers`` processes; 1
    runs here, reusing ``experiment``) or slurm. Raises SweepError when a trial failed or was
    interrupted (after every other trial has run), listing them one a line."""

    if not trials:
        return []
    experiments = [experiment] if isinstance(experiment, Experiment) else list(experiment or [])
    res = run_sweep(trials, sweep_dir or _default_sweep_dir(trials), executor=executor, retry_failed=retry_failed,
                    fresh=fresh, experiments=experiments, progress=progress, log=log)
    if res.failed or res.interrupted or res.busy:
        lines = [f"{n}: {e}" for n, e in res.failed.items()]
        lines += [f"{n}: interrupted (re-run to resume it)" for n in res.interrupted]
        lines += [f"{n}: still run by {o} (re-run when it has finished)" for n, o in res.busy.items()]
        raise SweepError(f"{len(lines)} of {len(trials)} trials have no result "
                         f"(failed trials re-run with --retry-failed; statuses in {res.sweep_dir}):\n  "
                         + "\n  ".join(lines))
    by_dir = {r["trial_dir"]: r for r in res.records}
    records = []
    for trial, tdir in zip(trials, res.dirs):
        rec = dict(by_dir[str(tdir)], group=trial.group)
        records.append(rec)
        if on_record is not None:
            on_record(rec)
        if "G_T" in rec:
                log(f"  {trial.group:24s} seed={rec['seed']}: G_T = {rec['G_T']:+.4f} "
                f"({'certified' if rec['certified'] else 'not certified'}), rec = {rec['rec']:.3f}, "
                f"AU = {rec['active_units']}, {rec['seconds']:.1f}s")
    return records


def _default_sweep_dir(trials: Sequence[Trial]) -> Path:
    parents = [str(Path(t.config.out_dir).parent) for t in trials if t.config.out_dir]
    if len(parents) < len(trials):
        return Path("runs/sweep")
    return Path(os.path.commonpath(parents))


def runs_root(runs_dir: str | Path | None, default: Path) -> Path:
    return Path(runs_dir) if runs_dir else default
