"""``python -m empirical frontier``: the T7 margin-energy paths with trained models as points."""
from __future__ import annotations

from empirical.commands.common import add_common_arguments, experiment_config, output_dirs

HELP = "T7 margin-energy frontier of the real teacher, with each trained model's distance to it"


def add_arguments(p) -> None:
    add_common_arguments(p, device="cpu", section="frontier", runs=False)
    p.add_argument("--claims", default=None,
                   help="claims results directory with runs.jsonl, or a directory of runs (default: results/<dataset>)")


def run(args) -> int:
    from pathlib import Path

    from empirical.commands.common import dataset_tag
    from empirical.experiments.frontier import FrontierConfig, run_frontier
    from empirical.report.tables import write_results_readme

    quick = ["frontier.n_points=101"] if args.quick else []
    args.overrides = quick + args.overrides
    _, cfg = experiment_config(args, section="frontier", section_config=FrontierConfig(), uses=())
    if cfg.n_points < 3:
        raise ValueError(f"--set frontier.n_points must be >= 3, got {cfg.n_points}")
    if cfg.split not in ("train", "test"):
        raise ValueError(f"--set frontier.split must be train or test, got {cfg.split!r}")
    out, _ = output_dirs(args, "frontier", results_sub="frontier")
    claims = Path(args.claims) if args.claims else Path("results") / dataset_tag(args.dataset)
    summary = run_frontier(args.dataset, cfg, claims_dir=claims, out_dir=out, device=args.device or "cpu")
    write_results_readme(out, f"Margin-energy frontier (T7 paths, T11 optimum): {args.dataset}", "frontier",
                         f"Models from `{summary['claims_dir']}` ({cfg.split} split), I_T = {summary['I_T']:.4f}, "
                         f"exact-code energy = {summary['exact_code_energy']:.4f} nats. Distance = the model's energy "
                         "minus the path's energy at the model's margin (see `empirical/experiments/frontier.py`). "
                         "`frontier_energy_min` = T11's E_min at the model's own L_TS (the least mean energy of any "
                         "code that aligns as well), `excess_over_min` = energy - E_min (T11: >= 0); "
                         f"T11 violations: {summary['t11_violations']} of {len(summary['models'])} models, "
                         f"smallest excess {summary['t11_min_excess']:.4f} nats.\n\n"
                         "Files: `summary.json`, `models.{md,csv}`, `paths.csv`, `frontier_t11.csv` (the T11 curve), "
                         "`frontier.png` (the T11 curve dashed on the scaled panel).\n\n"
                         + (out / "models.md").read_text())
    print(f"I_T = {summary['I_T']:.4f}, exact-code energy = {summary['exact_code_energy']:.4f}")
    for m in summary["models"]:
        print(f"{m['method']} kl{m['kl_weight']} seed{m['seed']}: G_T {m['margin']:+.4f}, energy {m['energy']:.4f}, "
              f"distance to frontier {m['distance_scaled']:+.4f} (scaled), {m['distance_interpolate']:+.4f} "
              f"(interpolate), above T11's E_min by {m['excess_over_min']:+.4f}")
    print(f"T11 (mean energy >= E_min(L_TS)): {summary['t11_violations']} violation(s) in {len(summary['models'])} models")
    return 0
