"""``python -m empirical frontier``: the T7 margin-energy paths with trained models as points."""
from __future__ import annotations

HELP = "T7 margin-energy frontier of the real teacher, with each trained model's distance to it"


def add_arguments(p) -> None:
    p.add_argument("--dataset", default="digits", help="data set name (default: digits)")
    p.add_argument("--claims", default=None,
                   help="claims results directory with runs.jsonl, or a directory of runs (default: results/<dataset>)")
    p.add_argument("--split", default="test", choices=("train", "test"), help="evaluation split (default: test)")
    p.add_argument("--points", type=int, default=401, help="s grid points of each path (default: 401)")
    p.add_argument("--quick", action="store_true", help="reduced CI run: 101 grid points, results under runs/quick")
    p.add_argument("--out", default=None, help="results directory (default: results/<dataset>/frontier)")
    p.add_argument("--device", default="cpu", help="cpu | cuda | auto (default: cpu)")


def run(args) -> int:
    from pathlib import Path

    from empirical.experiments.escape import write_results_readme
    from empirical.experiments.frontier import FrontierConfig, run_frontier

    if args.points < 3:
        raise ValueError(f"--points must be >= 3, got {args.points}")
    out = args.out or (f"runs/quick/{args.dataset}/frontier" if args.quick else None)
    cfg = FrontierConfig(dataset=args.dataset, claims_dir=args.claims, split=args.split,
                         n_points=101 if args.quick else args.points, out_dir=out, device=args.device)
    summary = run_frontier(cfg)
    out = Path(cfg.out_dir or f"results/{cfg.dataset}/frontier")
    write_results_readme(out, f"Margin-energy frontier (T7): {cfg.dataset}", "frontier",
                         f"Models from `{summary['claims_dir']}` ({cfg.split} split), I_T = {summary['I_T']:.4f}, "
                         f"exact-code energy = {summary['exact_code_energy']:.4f} nats. Distance = the model's energy "
                         "minus the path's energy at the model's margin (see `empirical/frontier.py`).\n\n"
                         "Files: `summary.json`, `models.{md,csv}`, `paths.csv`, `frontier.png`.\n\n"
                         + (out / "models.md").read_text())
    print(f"I_T = {summary['I_T']:.4f}, exact-code energy = {summary['exact_code_energy']:.4f}")
    for m in summary["models"]:
        print(f"{m['method']} kl{m['kl_weight']} seed{m['seed']}: G_T {m['margin']:+.4f}, energy {m['energy']:.4f}, "
              f"distance to frontier {m['distance_scaled']:+.4f} (scaled), {m['distance_interpolate']:+.4f} "
              f"(interpolate)")
    return 0
