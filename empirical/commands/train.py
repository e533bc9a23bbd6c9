"""``python -m empirical train``: one VAE training run with any registered method."""
from __future__ import annotations

from empirical.commands.common import add_common_arguments, experiment_config
from empirical.configure import replace

HELP = "train one VAE with the witness attached (any method of `python -m empirical methods`)"


def add_arguments(p) -> None:
    add_common_arguments(p, method=True, runs=False)


def run(args) -> int:
    from empirical.training.loop import train

    config, _ = experiment_config(args)
    if args.out:
        config = replace(config, out_dir=args.out)
    result = train(config, resume=not args.fresh if hasattr(args, "fresh") else True, progress=args.progress)
    f = result.final
    print(f"{config.data.name} {config.method_name} seed {config.train.seed} ({f['split']} split, n = {f['n']}): "
          f"I_T = {f['I_T']:.4f}, L_TS = {f['L_TS']:.4f}, G_T = {f['G_T']:+.4f} "
          f"({'certified' if f['certified'] else 'not certified'}); rec = {f['rec']:.3f}, KL = {f['kl']:.3f}, "
          f"AU = {f['active_units']}/{config.model.latent_dim}, MI = {f['mi_full']:.3f} (full), "
          f"T8 bound {f['size_bound']:.4f} (slack {f['size_bound_slack']:.4f})")
    if result.bound_violations:
        print(f"BOUND VIOLATIONS: {len(result.bound_violations)} (see {result.out_dir / 'summary.json'})")
        return 1
    print(f"run written to {result.out_dir}")
    return 0
