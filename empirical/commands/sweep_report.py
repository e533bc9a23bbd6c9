"""``python -m empirical sweep-report DIR...``: merge trial directories (or sweep directories, i.e.
their parents) into the experiment's tables and plots, whether they ran here or on a cluster."""
from __future__ import annotations

HELP = "merge sweep trial directories (local or SLURM) into the claims / compare / summary tables"


def add_arguments(p) -> None:
    p.add_argument("dirs", nargs="+", metavar="DIR", help="trial directories or sweep directories holding them")
    p.add_argument("--table", default="auto", choices=("auto", "claims", "compare", "summary"),
                   help="which experiment's tables (default: auto, claims when the groups are '<method> kl <w>')")
    p.add_argument("--out", required=True, help="results directory for the tables and plots")


def run(args) -> int:
    from pathlib import Path

    from empirical.experiments.sweep_report import report

    summary = report(args.dirs, args.out, kind=args.table)
    for path in summary["tables"]:
        if path.endswith(".md"):
            print(Path(path).read_text())
    if summary["not_done"]:
        print(f"{len(summary['not_done'])} trials without a result left out: "
              + ", ".join(f"{k} ({v})" for k, v in summary["not_done"].items()))
    print(f"{summary['n_runs']} trials merged; tables in {args.out}")
    return 0
