"""``python -m empirical train``: one VAE training run (vanilla / rst / rst-prefit / rst-alpha-prefit)."""
from __future__ import annotations

HELP = "train one VAE with the witness attached (methods: vanilla, rst, rst-prefit, rst-alpha-prefit)"


def add_arguments(p) -> None:
    from empirical.training.loop import METHODS

    p.add_argument("--dataset", default="digits", help="data set name or .npy/.npz path (default: digits)")
    p.add_argument("--method", default="vanilla", choices=METHODS, help="training method (default: vanilla)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a TrainConfig key (repeatable), e.g. --set kl_weight=4 --set epochs=10")
    p.add_argument("--device", default=None, help="auto | cpu | cuda (default: the config's, auto)")
    p.add_argument("--out", default=None, help="run directory (default: runs/train/<dataset>/<method>-kl<w>-seed<s>)")
    p.add_argument("--fresh", action="store_true", help="start over even if the run directory has a checkpoint")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def run(args) -> int:
    from empirical.configs import config_for
    from empirical.training.loop import apply_overrides, train

    changes = {"method": args.method}
    if args.device:
        changes["device"] = args.device
    if args.out:
        changes["out_dir"] = args.out
    config = apply_overrides(config_for(args.dataset, **changes), args.overrides)
    result = train(config, resume=not args.fresh, progress=not args.no_progress)
    f = result.final
    print(f"{config.dataset} {config.method} seed {config.seed} ({f['split']} split, n = {f['n']}): "
          f"I_T = {f['I_T']:.4f}, L_TS = {f['L_TS']:.4f}, G_T = {f['G_T']:+.4f} "
          f"({'certified' if f['certified'] else 'not certified'}); rec = {f['rec']:.3f}, KL = {f['kl']:.3f}, "
          f"AU = {f['active_units']}/{config.latent_dim}, MI = {f['mi_full']:.3f} (full), "
          f"T8 bound {f['size_bound']:.4f} (slack {f['size_bound_slack']:.4f})")
    if result.bound_violations:
        print(f"BOUND VIOLATIONS: {len(result.bound_violations)} (see {result.out_dir / 'summary.json'})")
        return 1
    print(f"run written to {result.out_dir}")
    return 0
