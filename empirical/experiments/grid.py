"""A grid of training runs (trials) over one prepared experiment: the layer ``claims`` and
``compare`` run their grids through. Each trial is a full config of the tree with its own run
directory (resolved config, per-epoch metrics, checkpoint, atomic summary), so a re-run resumes
or reuses finished runs; one record per trial comes back (the final evaluation and the bounds)."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from empirical.config import ExperimentConfig
from empirical.training.experiment import Experiment, prepare
from empirical.training.loop import train

__all__ = ["Trial", "trial_name", "run_trials", "method_order", "runs_root"]


@dataclass(frozen=True)
class Trial:
    group: str                 # the table row this trial belongs to (e.g. "vanilla kl 4")
    config: ExperimentConfig


def trial_name(method: str, kl_weight: float, seed: int) -> str:
    return f"{method}-kl{kl_weight:g}-seed{seed}"



def method_order(name: str) -> int:
    from empirical.methods import method_names
    names = method_names()
    return names.index(name) if name in names else len(names)


def run_trials(trials: Sequence[Trial], *, experiment: Experiment | None = None, fresh: bool = False,
               progress: bool = False, log: Callable[[str], None] = print,
               on_record: Callable[[dict], None] | None = None) -> list[dict]:
    """Train every trial (resuming / reusing its run directory unless ``fresh``); one record each."""
    records = []
    for trial in trials:
        c = trial.config
        exp = experiment if experiment is not None else prepare(c)
        t0 = time.perf_counter()
        result = train(c, experiment=exp, resume=not fresh, progress=progress)
        final = {k: v for k, v in result.final.items() if k != "bound_violations"}
        rec = {"group": trial.group, "method": c.method_name, "kl_weight": c.train.kl_weight, "seed": c.train.seed,
               "seconds": time.perf_counter() - t0, "run_dir": str(result.out_dir),
               "n_violations": len(result.bound_violations), "bound_violations": result.bound_violations, **final}
        records.append(rec)
        if on_record is not None:
            on_record(rec)
        log(f"  {trial.group:24s} seed={c.train.seed}: G_T = {rec['G_T']:+.4f} "
            f"({'certified' if rec['certified'] else 'not certified'}), rec = {rec['rec']:.3f}, "
            f"AU = {rec['active_units']}, {rec['seconds']:.1f}s")
    return records


def runs_root(runs_dir: str | Path | None, default: Path) -> Path:
    return Path(runs_dir) if runs_dir else default
