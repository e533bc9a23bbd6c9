"""``python -m empirical sweep``: a grid of trials (methods x seeds, or the claims / compare grids)
run through the sweep layer, here (``--executor local --workers N``) or on SLURM (``--executor
slurm``). Re-running the same command skips finished trials and resumes interrupted ones;
``--retry-failed`` re-runs failed ones. ``python -m empirical sweep-report DIR...`` merges trial
directories into the tables (``empirical/commands/sweep_report.py``)."""
from __future__ import annotations

import sys

from empirical.commands.common import (
    add_common_arguments,
    add_executor_arguments,
    executor_from_args,
    experiment_config,
    output_dirs,
    seeds_or_default,
)
from empirical.config import SEEDS
from empirical.configure import replace

HELP = "run a grid of trials (methods x seeds, or --grid claims|compare) locally or on SLURM, resumably"


def add_arguments(p) -> None:
    add_common_arguments(p, seeds=SEEDS, section="grid")
    p.add_argument("--method", default="vanilla", metavar="M1,M2",
                   help="comma list of training methods (python -m empirical methods; default: vanilla)")
    p.add_argument("--grid", default=None, choices=("claims", "compare"),
                   help="run a named grid instead of methods x seeds (its own keys: --set claims.KEY=V or "
                        "compare.KEY=V)")
    add_executor_arguments(p)


def _methods(text: str) -> list[str]:
    from empirical.methods import method_names

    names = [m.strip() for m in text.split(",") if m.strip()]
    bad = [m for m in names if m not in method_names()]
    if not names or bad:
        raise ValueError(f"--method {text!r}: unknown method {', '.join(bad) or '(none given)'}; "
                         f"valid: {', '.join(method_names())}")
    if len(set(names)) != len(names):
        raise ValueError(f"--method {text!r}: a method is listed twice")
    return names


def run(args) -> int:
    from empirical.sweep import SweepError

    executor = executor_from_args(args)   # checks the executor arguments first
    if args.grid and args.method != "vanilla":
        raise ValueError(f"--method: the {args.grid} grid names its own methods; drop --method or --grid")
    try:
        if args.grid == "claims":
            return _claims(args)
        if args.grid == "compare":
            return _compare(args)
        return _methods_grid(args, executor)
    except SweepError as exc:   # some trials failed or were interrupted: listed, the others kept
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _methods_grid(args, executor) -> int:
    from empirical.experiments.grid import Trial, run_trials, trial_name
    from empirical.experiments.sweep_report import report

    if any(o.strip().startswith(("claims.", "compare.", "grid.")) for o in args.overrides):
        raise ValueError("--set claims./compare. keys need --grid claims or --grid compare")
    methods = _methods(args.method)
    base, _ = experiment_config(args, method=methods[0])
    out, runs = output_dirs(args, "sweep", results_sub="sweep")
    seeds = seeds_or_default(args, SEEDS, quick_default=2)
    trials = [Trial(m, replace(base, method_name=m, train__seed=s,
                                    out_dir=str(runs / trial_name(m, base.train.kl_weight, s))))
              for m in methods for s in seeds]
    run_trials(trials, fresh=args.fresh, progress=args.progress, sweep_dir=runs, executor=executor,
               retry_failed=args.retry_failed, log=lambda m: print(m, flush=True))
    report([runs], out, kind="summary")
    print((out / "sweep_table.md").read_text())
    print(f"trials in {runs}; table in {out}")
    return 0


def _claims(args) -> int:
    from empirical.commands import claims

    args.overrides = [o.replace("grid.", "claims.", 1) if o.startswith("grid.") else o for o in args.overrides]
    args.strict = False
    return claims.run(args)


def _compare(args) -> int:
    from empirical.commands import compare

    args.overrides = [o.replace("grid.", "compare.", 1) if o.startswith("grid.") else o for o in args.overrides]
    return compare.run(args)
