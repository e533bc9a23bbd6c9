"""``python -m empirical claims``: the certificate claims C1-C3 with the certificate table."""
from __future__ import annotations

from empirical.commands.common import add_common_arguments, add_executor_arguments, executor_from_args, experiment_command
from empirical.config import SEEDS

HELP = "claims C1-C3: vanilla not certified, rst/rst-prefit certified, rst-alpha-prefit survives KL stress"


def add_arguments(p) -> None:
    add_common_arguments(p, seeds=SEEDS, section="claims")
    add_executor_arguments(p)
    p.add_argument("--strict", action="store_true", help="exit 1 when a claim does not hold")


def run(args) -> int:
    import sys

    from empirical.experiments.claims import ClaimsConfig, format_claims, run_claims
    from empirical.sweep import SweepError

    base, cfg, out, runs, seeds = experiment_command(args, "claims", ClaimsConfig(), quick_seeds=2)
    try:
        summary = run_claims(base, cfg, seeds=seeds, out_dir=out, runs_dir=runs, fresh=args.fresh, progress=args.progress,
                             executor=executor_from_args(args), retry_failed=args.retry_failed)
    except SweepError as exc:   # some trials failed: listed, the others kept
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print((out / "certificate_table.md").read_text())
    print(format_claims(summary))
    print(f"wall time {summary['wall_seconds']:.1f}s for {summary['n_runs']} runs; results in {out}")
    if not summary["all_hold"]:
        print("NOT ALL CLAIMS HOLD (see above)" + ("" if args.strict else "; exit 0 without --strict"))
        return 1 if args.strict else 0
    return 0
