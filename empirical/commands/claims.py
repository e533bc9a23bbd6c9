"""``python -m empirical claims``: the certificate claims C1-C3 with the certificate table."""
from __future__ import annotations

HELP = "claims C1-C3: vanilla not certified, rst/rst-prefit certified, rst-alpha-prefit survives KL stress"


def add_arguments(p) -> None:
    p.add_argument("--dataset", default="digits", help="data set name (default: digits)")
    p.add_argument("--seeds", type=int, default=None, help="seeds 0..n-1 (default: 5; 2 with --quick)")
    p.add_argument("--quick", action="store_true",
                   help="reduced CI run (2 seeds, few epochs, row limit on large data; results/tmp/<dataset>-quick)")
    p.add_argument("--out", default=None, help="results directory (default: results/<dataset>)")
    p.add_argument("--runs", default=None, help="run directory for checkpoints (default: runs/claims/<dataset>)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda (default: auto)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a TrainConfig key for every run, e.g. --set epochs=10")
    p.add_argument("--fresh", action="store_true", help="retrain runs that already have a checkpoint")
    p.add_argument("--strict", action="store_true", help="exit 1 when a claim does not hold")
    p.add_argument("--progress", action="store_true", help="show per-run progress bars")


def run(args) -> int:
    from empirical.experiments.claims import ClaimsConfig, format_claims, run_claims

    seeds = args.seeds if args.seeds is not None else (2 if args.quick else 5)
    cfg = ClaimsConfig(dataset=args.dataset, seeds=seeds, quick=args.quick, device=args.device, out_dir=args.out,
                       runs_dir=args.runs, fresh=args.fresh, train_overrides=tuple(args.overrides))
    summary = run_claims(cfg, progress=args.progress)
    from empirical.experiments.claims import _run_dirs
    out = _run_dirs(cfg)[0]
    print((out / "certificate_table.md").read_text())
    print(format_claims(summary))
    print(f"wall time {summary['wall_seconds']:.1f}s for {summary['n_runs']} runs; results in {out}")
    if not summary["all_hold"]:
        print("NOT ALL CLAIMS HOLD (see above)" + ("" if args.strict else "; exit 0 without --strict"))
        return 1 if args.strict else 0
    return 0
