"""``python -m empirical rescue``: prevention (rst), collapse (vanilla under KL stress), rescue (rst)."""
from __future__ import annotations

from empirical.commands.common import add_common_arguments, add_executor_arguments, executor_from_args, experiment_command
from empirical.config import SEEDS

HELP = "certificate through prevent (rst) -> collapse (vanilla, KL stress) -> rescue (rst), per seed"


def add_arguments(p) -> None:
    add_common_arguments(p, seeds=SEEDS, device="cpu", section="rescue")
    add_executor_arguments(p)


def run(args) -> int:
    import sys

    from empirical.experiments.rescue import RescueConfig, run_rescue
    from empirical.report.tables import write_results_readme
    from empirical.sweep import SweepError

    quick = ["rescue.epochs_prevent=4", "rescue.epochs_collapse=15", "rescue.epochs_rescue=4"]
    base, cfg, out, runs, seeds = experiment_command(args, "rescue", RescueConfig(), method="rst", results_sub="rescue",
                                                     quick=quick)
    try:
        summary = run_rescue(base, cfg, seeds=seeds, out_dir=out, runs_dir=runs, fresh=args.fresh, progress=args.progress,
                             executor=executor_from_args(args), retry_failed=args.retry_failed)
    except SweepError as exc:   # some seeds failed: listed, the others kept
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for o in summary["outcomes"]:
        print(f"seed {o['seed']}: prevent min G_T {o.get('p1_min_margin', float('nan')):+.4f} "
              f"(all certified: {o.get('p1_all_certified')}), collapse: uncertified after "
              f"{o.get('p2_epochs_to_uncertified')} epochs, constant regime after "
              f"{o.get('p2_epochs_to_constant_regime')}, AU {o.get('p1_active_units')} -> {o.get('p2_active_units')}; "
              f"rescue: certified after {o.get('p3_epochs_to_certified')} epochs, final G_T "
              f"{o.get('p3_final_margin', float('nan')):+.4f}")
    for f in summary["failures"]:
        print(f"CLAIM NOT MET: {f}")
    verdict = ("All phases behaved as claimed." if summary["all_phases_as_claimed"] else
               "Claims NOT met:\n\n" + "\n".join(f"- {f}" for f in summary["failures"]))
    write_results_readme(out, f"Prevent / collapse / rescue: {base.data.name}", "rescue",
                         f"Protocol: see `empirical/experiments/rescue.py` (also in `outcomes.json`). Phase epochs "
                         f"{cfg.epochs_prevent}/{cfg.epochs_collapse}/{cfg.epochs_rescue}, KL stress "
                         f"{cfg.kl_stress:g}, collapse tolerance {cfg.collapse_tol_fraction:g} I_T"
                         f"{', limit ' + str(base.data.limit) + ' rows' if base.data.limit else ''}.\n\n{verdict}\n\n"
                         "Files: `outcomes.{md,csv,json}` (per seed), `epochs.{csv,json}` (every evaluation), "
                         "`margins.png`.\n\n" + (out / "outcomes.md").read_text())
    return 0 if summary["all_phases_as_claimed"] else 1
