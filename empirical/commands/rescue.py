"""``python -m empirical rescue``: prevention (rst), collapse (vanilla under KL stress), rescue (rst)."""
from __future__ import annotations

import dataclasses

from empirical.commands.escape import apply_config_overrides

HELP = "certificate through prevent (rst) -> collapse (vanilla, KL stress) -> rescue (rst), per seed"


def add_arguments(p) -> None:
    p.add_argument("--dataset", default="digits", help="data set name (default: digits)")
    p.add_argument("--seeds", type=int, default=5, help="number of seeds 0..n-1 (default: 5)")
    p.add_argument("--quick", action="store_true",
                   help="reduced CI run: 1 seed, 4/15/4 epochs, results under runs/quick/<dataset>/rescue")
    p.add_argument("--out", default=None, help="results directory (default: results/<dataset>/rescue)")
    p.add_argument("--runs", default=None, help="checkpoint directory (default: runs/rescue/<dataset>)")
    p.add_argument("--limit", type=int, default=None, help="keep at most this many train and test rows")
    p.add_argument("--device", default="cpu", help="cpu | cuda | auto (default: cpu)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="RescueConfig field (e.g. kl_stress=16, epochs_collapse=40) or train.<TrainConfig key>")
    p.add_argument("--progress", action="store_true", help="show training progress bars")


def config_from_args(args):
    from empirical.experiments.rescue import RescueConfig

    cfg = RescueConfig(dataset=args.dataset, seeds=args.seeds, limit=args.limit, device=args.device,
                       out_dir=args.out, runs_dir=args.runs)
    if args.quick:
        cfg = dataclasses.replace(cfg, seeds=min(args.seeds, 1), epochs_prevent=4, epochs_collapse=15,
                                  epochs_rescue=4, out_dir=args.out or f"runs/quick/{args.dataset}/rescue",
                                  runs_dir=args.runs or f"runs/quick/{args.dataset}/rescue-runs")
    return apply_config_overrides(cfg, args.overrides)


def run(args) -> int:
    from pathlib import Path

    from empirical.experiments.escape import write_results_readme
    from empirical.experiments.rescue import run_rescue

    cfg = config_from_args(args)
    summary = run_rescue(cfg, progress=args.progress)
    for o in summary["outcomes"]:
        print(f"seed {o['seed']}: prevent min G_T {o.get('p1_min_margin', float('nan')):+.4f} "
              f"(all certified: {o.get('p1_all_certified')}), collapse: uncertified after "
              f"{o.get('p2_epochs_to_uncertified')} epochs, constant regime after "
              f"{o.get('p2_epochs_to_constant_regime')}, AU {o.get('p1_active_units')} -> {o.get('p2_active_units')}; "
              f"rescue: certified after {o.get('p3_epochs_to_certified')} epochs, final G_T "
              f"{o.get('p3_final_margin', float('nan')):+.4f}")
    for f in summary["failures"]:
        print(f"CLAIM NOT MET: {f}")
    out = cfg.out_dir or f"results/{cfg.dataset}/rescue"
    verdict = ("All phases behaved as claimed." if summary["all_phases_as_claimed"] else
               "Claims NOT met:\n\n" + "\n".join(f"- {f}" for f in summary["failures"]))
    write_results_readme(out, f"Prevent / collapse / rescue: {cfg.dataset}", "rescue",
                         f"Protocol: see `empirical/rescue.py` (also in `outcomes.json`). Phase epochs "
                         f"{cfg.epochs_prevent}/{cfg.epochs_collapse}/{cfg.epochs_rescue}, KL stress "
                         f"{cfg.kl_stress:g}, collapse tolerance {cfg.collapse_tol_fraction:g} I_T"
                         f"{', limit ' + str(cfg.limit) + ' rows' if cfg.limit else ''}.\n\n{verdict}\n\n"
                         "Files: `outcomes.{md,csv,json}` (per seed), `epochs.{csv,json}` (every evaluation), "
                         "`margins.png`.\n\n" + (Path(out) / "outcomes.md").read_text())
    return 0 if summary["all_phases_as_claimed"] else 1
