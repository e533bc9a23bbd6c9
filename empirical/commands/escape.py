"""``python -m empirical escape``: T6 escape from the collapsed manifold on a real data set."""
from __future__ import annotations

import dataclasses
import json

from empirical.overrides import apply_overrides

HELP = "T6 on real models: gradients at the collapsed point, one escape step, escape trajectories"


def add_arguments(p) -> None:
    p.add_argument("--dataset", default="digits", help="data set name (default: digits)")
    p.add_argument("--seeds", type=int, default=5, help="number of seeds 0..n-1 (default: 5)")
    p.add_argument("--quick", action="store_true",
                   help="reduced CI run: 2 seeds, 2 epochs, results under runs/quick/<dataset>/escape")
    p.add_argument("--out", default=None, help="results directory (default: results/<dataset>/escape)")
    p.add_argument("--runs", default=None, help="checkpoint directory (default: runs/escape/<dataset>)")
    p.add_argument("--epochs", type=int, default=None, help="epochs per trajectory (default: EscapeConfig)")
    p.add_argument("--record-every", type=int, default=None, help="optimizer steps between records")
    p.add_argument("--limit", type=int, default=None, help="keep at most this many train and test rows")
    p.add_argument("--device", default="cpu", help="cpu | cuda | auto (default: cpu)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="EscapeConfig field (e.g. kl_weight=2) or, prefixed train., a TrainConfig field")
    p.add_argument("--progress", action="store_true", help="show training progress bars")


def config_from_args(args):
    from empirical.experiments.escape import EscapeConfig

    cfg = EscapeConfig(dataset=args.dataset, seeds=args.seeds, limit=args.limit, device=args.device,
                       out_dir=args.out, runs_dir=args.runs)
    if args.quick:
        cfg = dataclasses.replace(cfg, seeds=min(args.seeds, 2), epochs=2, record_every=3,
                                  out_dir=args.out or f"runs/quick/{args.dataset}/escape",
                                  runs_dir=args.runs or f"runs/quick/{args.dataset}/escape-runs")
    if args.epochs is not None:
        cfg = dataclasses.replace(cfg, epochs=args.epochs)
    if args.record_every is not None:
        cfg = dataclasses.replace(cfg, record_every=args.record_every)
    return apply_config_overrides(cfg, args.overrides)


def apply_config_overrides(cfg, overrides):
    """``key=value`` for a field of the experiment config, ``train.key=value`` for TrainConfig."""
    own = [item for item in overrides if not item.strip().startswith("train.")]
    train = [item.strip()[len("train."):] for item in overrides if item.strip().startswith("train.")]
    if any(item.split("=", 1)[0].strip() == "train_overrides" for item in own):
        raise ValueError("set TrainConfig keys as train.<key>=value, not train_overrides")
    cfg = apply_overrides(cfg, own)
    if train:
        cfg = dataclasses.replace(cfg, train_overrides=tuple(cfg.train_overrides) + tuple(train))
    return cfg


def run(args) -> int:
    from pathlib import Path

    from empirical.experiments.escape import EscapeFailure, run_escape, write_results_readme

    cfg = config_from_args(args)
    try:
        summary = run_escape(cfg, progress=args.progress)
    except EscapeFailure as exc:
        print(f"ESCAPE CLAIM FAILED: {exc}")
        return 1
    for c in summary["collapse_checks"]:
        print(f"seed {c['seed']}: collapsed-point checks hold (escape force {c['escape_force_autograd']:.6g} vs "
              f"beta^2 kappa R {c['escape_force_closed_form']:.6g}; ||grad_W|| {c['grad_mean_layer_weight_frobenius']:.4g}, "
              f"||C|| {c['teacher_feature_crosscov_frobenius']:.4g})")
    s = summary["escape_step"]
    print(f"one escape step: margin {s['margin_after_step']:.6g} >= R {s['R']:.6g} (I_T {s['I_T']:.6g})")
    for t in summary["trajectories"]:
        print(f"seed {t['seed']}: margin {t['initial_margin']:+.4g} -> {t['final_margin']:+.4g} "
              f"(first certified at step {t['first_certified_step']})")
    out = cfg.out_dir or f"results/{cfg.dataset}/escape"
    write_results_readme(out, f"T6 escape from the collapsed manifold: {cfg.dataset}", "escape",
                         "Files: `summary.json` (collapsed-point checks per seed with every measured value, "
                         "reference, residual and tolerance; the one-step escape; per-seed trajectory outcomes), "
                         "`trajectories.csv` (every record: margin, L_TS, escape force, gradient norms), "
                         "`trajectories.md`, `trajectories.png`.\n\nPer-seed trajectories (train split):\n\n"
                         + (Path(out) / "trajectories.md").read_text())
    print(json.dumps({"results": out}))
    return 0

