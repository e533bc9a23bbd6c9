"""Prevention, collapse and rescue: the certificate through three training phases.

Protocol (ours; every phase is ``empirical.training.loop.train``, chained with ``init_from``, which
starts a new run from a checkpoint's weights with a fresh optimizer):

1. **Prevent**: ``rst`` (alignment on, ``kl_weight`` = 1) for ``epochs_prevent`` epochs. Claim:
   the test-split certificate is "certified" at every evaluation (every epoch).
2. **Collapse**: from phase 1's final weights, ``vanilla`` (alignment removed) under KL stress
   ``kl_weight = kl_stress`` (default 8) for ``epochs_collapse`` epochs. Claim: the witness falls
   into the constant-student regime, G_T <= tol, i.e. L_TS >= I_T - tol (the witness on the
   encoder does no better than the best constant predictor, whose loss is exactly I_T by T1),
   with tol = ``collapse_tol_fraction`` * I_T (1% by default: a gain over the best constant
   below 1% of the teacher information is what we call "no better"); and active units drop.
   We report the first epoch at which the certificate is lost (verdict "not certified") and
   the first at which the constant-student regime is reached.
3. **Rescue**: from phase 2's final (collapsed) weights, ``rst`` with ``kl_weight`` = 1 again
   for ``epochs_rescue`` epochs. Claim: the certificate is restored (certified at the end);
   we report the first certified epoch.

A phase that does not behave as claimed is reported with its numbers (``failures`` in the
summary, exit status 1 from the command); assertions are never loosened to make it pass.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from empirical import io as eio
from empirical.configure import provenance, replace
from empirical.experiments.grid import Trial, run_trials
from empirical.report.tables import csv_table, markdown_table
from empirical.sweep import register_task
from empirical.training.experiment import prepare
from empirical.training.loop import train

__all__ = ["RescueConfig", "PHASES", "run_rescue_seed", "run_rescue", "phase_outcomes"]

PHASES = ("1-prevent", "2-collapse", "3-rescue")


@dataclass
class RescueConfig:
    """The three-phase protocol's own settings (``--set rescue.KEY=VALUE``); the network,
    optimiser and teacher settings are the config tree's."""
    epochs_prevent: int = 15
    epochs_collapse: int = 25
    epochs_rescue: int = 15
    kl_weight: float = 1.0            # phases 1 and 3
    kl_stress: float = 8.0            # phase 2 (vanilla)
    alpha: float = 1.0                # alignment weight of phases 1 and 3
    collapse_tol_fraction: float = 0.01  # constant-student regime: L_TS >= I_T - fraction * I_T


def _phase_config(base, cfg: RescueConfig, seed: int, phase: str, runs: Path):
    method, kl, epochs = {"1-prevent": ("rst", cfg.kl_weight, cfg.epochs_prevent),
                          "2-collapse": ("vanilla", cfg.kl_stress, cfg.epochs_collapse),
                          "3-rescue": ("rst", cfg.kl_weight, cfg.epochs_rescue)}[phase]
    config = replace(base, method_name=method, train__kl_weight=kl, train__epochs=epochs, train__seed=seed,
                          train__eval_every=1, train__eval_split="test", out_dir=str(Path(runs) / f"seed{seed}" / phase))
    return replace(config, method__alpha=cfg.alpha) if hasattr(config.method, "alpha") else config


def _row(seed, phase, phase_epoch, offset, ev) -> dict:
    return {"seed": seed, "phase": phase, "phase_epoch": phase_epoch, "global_epoch": offset + phase_epoch,
            "G_T": ev["G_T"], "L_TS": ev["L_TS"], "I_T": ev["I_T"], "certified": bool(ev["certified"]),
            "active_units": ev["active_units"], "kl": ev["kl"], "rec": ev["rec"],
            "t8_bound": ev["size_bound"], "energy": ev["energy"]}


def run_rescue_seed(base, cfg: RescueConfig, seed: int, experiment, runs: Path, *, fresh: bool = False,
                    progress: bool = False) -> list[dict]:
    """Train the three phases for one seed; returns one row per evaluation (per epoch)."""

    rows, init, offset = [], None, 0
    for phase in PHASES:
        config = _phase_config(base, cfg, seed, phase, runs)
        result = train(config, experiment=experiment, init_from=init, resume=not fresh, progress=progress)
        for h in result.history:
            if "eval" in h:
                rows.append(_row(seed, phase, h["epoch"], offset, h["eval"]))
        # the phase's final evaluation also carries the held-out certificates (fitted witness, probe)
        rows[-1].update({k: result.final.get(k) for k in ("G_fitted", "certified_fitted", "G_probe", "certified_probe")})
        init = result.out_dir / "checkpoint.pt"
        offset += config.train.epochs
    return rows


@register_task("rescue")
def _rescue_trial(config, task_config: dict, experiment, trial_dir: Path, progress: bool) -> dict:
    """One trial of the sweep layer: one seed of the protocol, in the trial's directory."""
    rows = run_rescue_seed(config, RescueConfig(**task_config), config.train.seed, experiment, trial_dir,
                           progress=progress)
    return {"run_dir": str(trial_dir), "rows": rows}


def _first(rows, pred):
    return next((r["phase_epoch"] for r in rows if pred(r)), None)


def phase_outcomes(rows: list[dict], cfg: RescueConfig) -> tuple[dict, list[str]]:
    """Per-seed outcome of each phase and the list of claims that failed (with numbers)."""
    seed = rows[0]["seed"]
    p = {ph: [r for r in rows if r["phase"] == ph] for ph in PHASES}
    failures = []
    out = {"seed": seed}
    p1, p2, p3 = p["1-prevent"], p["2-collapse"], p["3-rescue"]
    if p1:
        out.update(p1_min_margin=min(r["G_T"] for r in p1), p1_all_certified=all(r["certified"] for r in p1),
                   p1_final_margin=p1[-1]["G_T"], p1_active_units=p1[-1]["active_units"], I_T=p1[-1]["I_T"])
    for tag, rs in (("p1", p1), ("p2", p2), ("p3", p3)):
        if rs and "G_fitted" in rs[-1]:
            out.update({f"{tag}_G_fitted": rs[-1]["G_fitted"], f"{tag}_G_probe": rs[-1]["G_probe"]})
        if not out["p1_all_certified"]:
            bad = [(r["phase_epoch"], round(r["G_T"], 5)) for r in p1 if not r["certified"]]
            failures.append(f"seed {seed} phase 1 (prevent): not certified at (epoch, G_T) {bad}")
    if p2:
        tol = cfg.collapse_tol_fraction * p2[-1]["I_T"]
        out.update(p2_collapse_tolerance=tol,
                   p2_epochs_to_uncertified=_first(p2, lambda r: not r["certified"]),
                   p2_epochs_to_constant_regime=_first(p2, lambda r: r["L_TS"] >= r["I_T"] - tol),
                   p2_final_margin=p2[-1]["G_T"], p2_final_LTS_minus_IT=p2[-1]["L_TS"] - p2[-1]["I_T"],
                   p2_active_units=p2[-1]["active_units"], p2_min_active_units=min(r["active_units"] for r in p2))
        if out["p2_epochs_to_constant_regime"] is None:
            failures.append(f"seed {seed} phase 2 (collapse): never reached L_TS >= I_T - {tol:.4g}; final "
                            f"G_T = {p2[-1]['G_T']:.5g}, L_TS = {p2[-1]['L_TS']:.5g}, I_T = {p2[-1]['I_T']:.5g}")
        if p1 and not out["p2_active_units"] < out["p1_active_units"]:
            failures.append(f"seed {seed} phase 2 (collapse): active units did not drop "
                            f"({out['p1_active_units']} -> {out['p2_active_units']})")
    if p3:
        out.update(p3_epochs_to_certified=_first(p3, lambda r: r["certified"]), p3_final_margin=p3[-1]["G_T"],
                   p3_final_certified=p3[-1]["certified"], p3_active_units=p3[-1]["active_units"])
        if not p3[-1]["certified"]:
            failures.append(f"seed {seed} phase 3 (rescue): not certified at the end, G_T = {p3[-1]['G_T']:.5g}")
    return out, failures


def run_rescue(base, cfg: RescueConfig, *, seeds, out_dir, runs_dir, fresh: bool = False, progress: bool = False,
               make_plots: bool = True, executor=None, retry_failed: bool = False) -> dict:
    """All seeds; writes rows (CSV/JSON), the per-seed table (markdown/CSV/JSON) and the plot.
    Each seed (its three phases) is one trial of the sweep layer in ``runs_dir`` (``executor``: an
    empirical.sweep.ExecutorSpec), so seeds run in parallel or on SLURM and a re-run resumes."""
    import dataclasses


    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    experiment = prepare(_phase_config(base, cfg, 0, "1-prevent", runs_dir))
    trials = [Trial(f"seed{seed}", replace(base, train__seed=seed), task="rescue", task_config=dataclasses.asdict(cfg))
              for seed in seeds]
    records = run_trials(trials, experiment=experiment, fresh=fresh, progress=progress, sweep_dir=runs_dir,
                         executor=executor, retry_failed=retry_failed)
    all_rows, outcomes, failures = [], [], []
    for rec in records:
        rows = rec["rows"]
        all_rows += rows
        o, f = phase_outcomes(rows, cfg)
        outcomes.append(o)
        failures += f
    row_cols = ["seed", "phase", "phase_epoch", "global_epoch", "G_T", "L_TS", "I_T", "certified", "active_units",
                "kl", "rec", "t8_bound", "energy"]
    eio.atomic_write_text(out / "epochs.csv", csv_table(all_rows, row_cols))
    cols = ["seed", "p1_min_margin", "p1_all_certified", "p1_active_units", "p2_epochs_to_uncertified",
            "p2_epochs_to_constant_regime", "p2_final_margin", "p2_final_LTS_minus_IT", "p2_active_units",
            "p3_epochs_to_certified", "p3_final_margin", "p3_final_certified", "p3_active_units",
            "p1_G_fitted", "p1_G_probe", "p2_G_fitted", "p2_G_probe", "p3_G_fitted", "p3_G_probe"]
    eio.atomic_write_text(out / "outcomes.md", markdown_table(outcomes, cols))
    eio.atomic_write_text(out / "outcomes.csv", csv_table(outcomes, cols))
    summary = {"config": cfg, "provenance": provenance(base),
               "phase_configs": {ph: _phase_config(base, cfg, 0, ph, runs_dir) for ph in PHASES},
               "teacher": getattr(experiment.teacher_result, "path", None), "seeds": list(seeds),
               "dataset": base.data.name, "protocol": __doc__, "outcomes": outcomes,
               "all_phases_as_claimed": not failures, "failures": failures,
               "versions": eio.library_versions()}
    eio.atomic_write_json(out / "outcomes.json", summary)
    eio.atomic_write_json(out / "epochs.json", all_rows)
    if make_plots:
        from empirical.report.figures import plot_rescue_margins
        plot_rescue_margins(all_rows, out / "margins.png",
                            title=f"{base.data.name}: prevent (rst) / collapse (vanilla, kl_weight {cfg.kl_stress:g}) "
                                  f"/ rescue (rst)")
    return summary
