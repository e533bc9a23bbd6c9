"""``python -m empirical linear``: T12 on digits, linear VAEs keep the directions the threshold predicts."""
from __future__ import annotations

from empirical.commands.common import add_common_arguments, experiment_command
from empirical.config import SEEDS

HELP = "T12: linear VAEs across kl_weight * sigma^2 thresholds; active directions against the prediction"


def add_arguments(p) -> None:
    add_common_arguments(p, seeds=SEEDS, device="cpu", section="linear")


def run(args) -> int:
    from empirical.experiments.linear_threshold import LinearConfig, run_linear_threshold
    from empirical.report.tables import write_results_readme

    quick = ["linear.thresholds=0.02,1.0", "linear.kl_weights=1,4", "linear.epochs=40"]
    base, cfg, out, runs, seeds = experiment_command(args, "linear", LinearConfig(), results_sub="linear", quick=quick)
    summary = run_linear_threshold(base, cfg, seeds=seeds, out_dir=out, runs_dir=runs, fresh=args.fresh,
                                   progress=args.progress)
    table = (out / "linear_threshold.md").read_text()
    verdict = ("Every run keeps exactly the predicted number of directions." if summary["holds"] else
               f"{len(summary['mismatches'])} of {summary['n_runs']} runs do NOT match the prediction (see runs.md).")
    write_results_readme(out, f"T12: linear-VAE collapse threshold on {base.data.name}", "linear",
                         f"Protocol and criterion: `empirical/experiments/linear_threshold.py` (criterion: an "
                         f"eigenvalue of Cov(mu) >= {cfg.criterion}).\n\n{verdict}\n\nWall time "
                         f"{summary['wall_seconds']:.0f} s.\n\n{table}\nPer run: `runs.md`; everything: `summary.json`.")
    print(table)
    print(verdict)
    return 0 if summary["holds"] else 1
