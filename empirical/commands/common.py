"""The argument block every experiment command shares, and how it becomes a config tree.

Every command takes the same ``--dataset``, ``--root``, ``--device``, ``--config`` (a TOML file of
dotted keys), ``--preset`` (a TOML file shipped with the package), ``--set`` (dotted keys of the
config tree, ``empirical.config``), ``--quick``, ``--out``, ``--runs``, ``--fresh`` and
``--progress``. Precedence: defaults, the data set's registry entry, ``--quick``, the preset, the
config file, then the command line (``--root``, ``--teacher``, ``--device``, ``--set``).
Grid commands add ``--seeds``, single-run commands ``--method``. An experiment
with its own settings (``claims``, ``escape``, ...) takes them as ``--set <command>.key=value``;
any other key goes to the config tree, where an unknown key is an error listing the valid ones.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from empirical.config import SEEDS, DataConfig, ExperimentConfig
from empirical.configure import (
    apply_overrides,
    apply_section_overrides,
    file_overrides,
    preset_path,
    resolve,
    with_file_overrides,
    with_file_section_overrides,
)
from empirical.io import parse_seeds, run_name  # --seeds 5 | 100-104 | 3,7,11 (one parser for the package)

__all__ = ["add_common_arguments", "experiment_config", "parse_seeds", "output_dirs", "dataset_tag",
           "seeds_or_default", "experiment_command", "add_executor_arguments", "executor_from_args"]


def _seeds_argument(text: str) -> tuple[int, ...]:
    try:
        return parse_seeds(text)
    except ValueError as exc:   # argparse prints this message (not "invalid parse_seeds value")
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_common_arguments(p: argparse.ArgumentParser, *, seeds: int | None = None, method: bool = False,
                         device: str | None = None, section: str | None = None, runs: bool = True) -> None:
    """The shared block. ``seeds``: the default count for a grid command (None: no --seeds);
    ``method``: add --method; ``device``: the command's default device (None: the config's);
    ``section``: the command's own settings, set as ``--set <section>.key=value``."""
    p.add_argument("--dataset", default=None,
                   help="data set name or a .npy/.npz path (default: the config file's data.name, else digits)")
    p.add_argument("--root", default=None, help="directory searched first for on-disk data sets (data.root)")
    p.add_argument("--teacher", default=None, metavar="FILE",
                   help="a saved teacher (the `teacher` command's teacher.npz) instead of the search (teacher.file)")
    if method:
        from empirical.methods import method_names
        p.add_argument("--method", default="vanilla", choices=method_names(), metavar="METHOD",
                       help="training method (python -m empirical methods lists them; default: vanilla)")
    if seeds is not None:
        p.add_argument("--seeds", default=None, type=_seeds_argument,
                       help=f"seeds: a count (5 = 0..4), a range (100-104) or a list (3,7,11) (default: {seeds})")
    p.add_argument("--device", default=device, help=f"auto | cpu | cuda (default: {device or 'the config, auto'})")
    own = f"; the {section} settings as {section}.KEY=VALUE" if section else ""
    p.add_argument("--set", dest="overrides", action="extend", nargs="+", default=[], metavar="KEY=VALUE",
                   help=f"dotted config keys, e.g. --set train.epochs=5 method.alpha=2 teacher.pca_dims=8{own}")
    p.add_argument("--config", default=None, metavar="FILE",
                   help="a TOML file of the same dotted keys as --set ([train] epochs = 5, ...); --set overrides it")
    p.add_argument("--preset", default=None, metavar="NAME",
                   help="a named setting shipped with the package (python -m empirical presets lists them); "
                        "--config and --set override it")
    p.add_argument("--quick", action="store_true", help="reduced CI run (the data set's quick settings)")
    p.add_argument("--out", default=None, help="results directory")
    if runs:
        p.add_argument("--runs", default=None, help="run directory for checkpoints")
        p.add_argument("--fresh", action="store_true", help="retrain runs that already have a checkpoint")
    p.add_argument("--progress", action="store_true", help="show per-run progress bars")


def experiment_config(args, *, method: str | None = None, section: str | None = None,
                      section_config: Any = None, uses: Sequence[str] | None = None) -> tuple[ExperimentConfig, Any]:
    """(the resolved config tree, the command's own config with its ``section.`` overrides).

    ``uses``: the tree sections the command reads (None: all); an override of another section
    would be silently ignored, so it is an error."""
    files = _config_files(args)
    own = [o for o in args.overrides if section and o.strip().startswith(section + ".")]   # --set, after the files
    tree = [o for o in args.overrides if not (section and o.strip().startswith(section + "."))]
    if uses is not None:
        unused = [o for o in tree if o.split("=", 1)[0].strip().partition(".")[0] not in uses]
        if unused:
            reads = [f"{u}.*" for u in uses] + ([f"{section}.*"] if section else [])
            raise ValueError(f"--set {unused[0].split('=', 1)[0].strip()}: this command does not use it (it reads "
                             f"only {', '.join(reads) or 'no --set keys'}); drop the override")
    dataset_keys = {"data.root": args.root} if args.root else {}
    if getattr(args, "teacher", None):
        dataset_keys["teacher.file"] = args.teacher
    try:
        base = resolve(args.dataset, method or getattr(args, "method", None) or "vanilla", quick=args.quick)
        for path, overrides in files:
            base = with_file_overrides(base, [o for o in overrides if not (section and o.startswith(section + "."))],
                                       path)
        base = apply_overrides(base, [*(f"{k}={v}" for k, v in dataset_keys.items()),
                                      *([f"train.device={args.device}"] if args.device else []), *tree])
    except ValueError as exc:
        if section_config is None or "unknown key" not in str(exc):
            raise
        own_keys = ", ".join(f"{section}.{f.name}" for f in dataclasses.fields(section_config))
        raise ValueError(f"{exc}; and this command's own keys: {own_keys}") from None
    if section_config is not None and section is not None:
        for path, overrides in files:      # each file's [section] keys, its errors naming the file
            mine = [o for o in overrides if o.startswith(section + ".")]
            if mine:
                section_config = with_file_section_overrides(section_config, mine, section, path)
        section_config = apply_section_overrides(section_config, own, section)
    return base, section_config


def _config_files(args) -> list[tuple[Path, list[str]]]:
    """The preset and the config file of a command, each with its overrides; sets ``args.dataset``
    from the last ``data.name`` they give when ``--dataset`` was not given (else digits)."""
    paths = ([preset_path(args.preset)] if getattr(args, "preset", None) else []) + \
        ([Path(args.config)] if getattr(args, "config", None) else [])
    files = [(p, file_overrides(p)) for p in paths]
    named = [o.split("=", 1)[1] for _, overrides in files for o in overrides if o.startswith("data.name=")]
    if getattr(args, "dataset", None) is None:
        args.dataset = named[-1] if named else DataConfig().name
    # data.name chose the data set (resolve takes its registry entry); --dataset wins over the files
    return [(p, [o for o in overrides if not o.startswith("data.name=")]) for p, overrides in files]


def dataset_tag(dataset: str) -> str:
    """A run-directory name for a data set: its registry name, or a path's file stem."""
    return run_name(dataset)


def output_dirs(args, command: str, *, results_sub: str | None = None) -> tuple[Path, Path]:
    """(results directory, runs directory) of a command: ``--out``/``--runs`` or the defaults
    ``results/<data>[/<sub>]`` and ``runs/<command>/<data>``; ``--quick`` writes under
    ``results/tmp/`` and ``runs/quick/`` so recorded results are never overwritten by CI runs."""
    tag = dataset_tag(args.dataset)
    if args.quick:
        out = Path("results/tmp") / f"{tag}-quick" / (results_sub or "")
        runs = Path("runs/quick") / command / tag
    else:
        out = Path("results") / tag / (results_sub or "")
        runs = Path("runs") / command / tag
    return (Path(args.out) if args.out else out), (Path(getattr(args, "runs", None) or runs))


def seeds_or_default(args, default: int, quick_default: int | None = None) -> tuple[int, ...]:
    if getattr(args, "seeds", None) is not None:
        return args.seeds
    return tuple(range(quick_default if args.quick and quick_default is not None else default))



def experiment_command(args, command: str, section_config: Any, *, quick: Sequence[str] = (), method: str | None = None,
                       results_sub: str | None = None, quick_seeds: int = 1):
    """What an experiment command starts from: (config tree, its own config, results dir, runs
    dir, seeds). ``quick`` are the command's own ``--quick`` overrides (the user's --set wins)."""
    if args.quick:
        args.overrides = [*quick, *args.overrides]
    base, cfg = experiment_config(args, method=method, section=command, section_config=section_config)
    out, runs = output_dirs(args, command, results_sub=results_sub)
    return base, cfg, out, runs, seeds_or_default(args, SEEDS, quick_default=quick_seeds)


def add_executor_arguments(p: argparse.ArgumentParser) -> None:
    """How a grid's trials run (``empirical.sweep``): here in a process pool, or on a SLURM cluster."""
    g = p.add_argument_group("executor (where the trials run; empirical.sweep)")
    g.add_argument("--executor", default="local", choices=("local", "slurm"),
                   help="local: a process pool on this machine; slurm: one submitit job array (default: local)")
    g.add_argument("--workers", type=_workers, default=1,
                   help="local: parallel trial processes, each pinned to cores/workers threads, or 'auto' (one per "
                        "core; scripts/run-main.sh uses it). Default 1: in this process, where methods registered by "
                        "the calling code are visible (a worker process imports only the package's own)")
    g.add_argument("--retry-failed", action="store_true", help="run trials that failed before again")
    g.add_argument("--partition", default=None, help="slurm: partition (default: the cluster's default)")
    g.add_argument("--time", dest="time_min", type=int, default=60, metavar="MINUTES",
                   help="slurm: time limit per trial in minutes (default: 60)")
    g.add_argument("--cpus-per-task", type=int, default=1,
                   help="slurm: CPUs per trial, also its torch/BLAS threads (default: 1)")
    g.add_argument("--gpus-per-node", type=int, default=0, help="slurm: GPUs per trial (default: 0)")
    g.add_argument("--gres", default=None, help="slurm: generic resources instead, e.g. gpu:a100:1 (default: none)")
    g.add_argument("--mem-gb", type=int, default=None, help="slurm: memory per trial in GB (default: the cluster's)")
    g.add_argument("--array-parallelism", type=int, default=64,
                   help="slurm: at most this many trials running at once (default: 64)")
    g.add_argument("--slurm-folder", default=None,
                   help="slurm: submitit logs and pickles (default: <runs>/slurm/%%j)")


def _workers(text: str) -> int:
    """``--workers``: a count >= 1, or ``auto`` = this machine's cores (os.cpu_count())."""
    if text == "auto":
        return max(1, os.cpu_count() or 1)
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--workers takes a whole number or 'auto', got {text!r}") from None


def executor_from_args(args):
    """The ExecutorSpec of the executor arguments (ValueError naming the bad one)."""
    from empirical.sweep import ExecutorSpec

    return ExecutorSpec(kind=args.executor, workers=args.workers, partition=args.partition, time_min=args.time_min,
                        cpus_per_task=args.cpus_per_task, gpus_per_node=args.gpus_per_node, gres=args.gres,
                        mem_gb=args.mem_gb, array_parallelism=args.array_parallelism, folder=args.slurm_folder)
