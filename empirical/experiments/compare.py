"""How the certificate judges other VAEs: every method of the registry on one data set (claim C4),
and the rival methods' own claims (C5: LR-VAE's active units on Fashion-MNIST; C6: HCT's
"non-collapsed regardless of decoder variance or regularisation strength").

A grid is a list of *entries* ``METHOD[@KL_WEIGHT][:key=value+key=value...]``: a method of the registry,
its KL weight (default: ``train.kl_weight``) and settings (a bare key is ``method.key``, a dotted
key any key of the config tree). Each entry is trained for every seed; the table has one row
per entry with mean ± sample sd over seeds of the raw certificate margin G_T (and its certified
count), the held-out certificates where available, active units (count and fraction), MI, KL
and Rec (test split). Named grids:

- ``c4`` (default): vanilla at kl_weight 1 and 4, kl-anneal, free-bits, aggressive, lr-vae, hct
  (a reconstruction), rst, rst-prefit, rst-alpha-prefit. **C4** as arXiv:2605.05813 states it:
  every non-witness method is negative under the raw certificate in every seed. Reported per
  method, with the numbers; a certified non-witness method is a finding, not hidden.
- ``c5``: LR-VAE over alpha_T in {0.4, 1.0} x kl_weight in {0.1, 0.2, 1.0} and vanilla at the
  same kl_weights. Published (arXiv:2508.12530, through its summary): AU fraction 0.93-0.96 for
  LR-VAE against about 0.13 for a standard VAE on Fashion-MNIST with shallow networks.
- ``c7`` (ours): vanilla at kl_weight 1, 4 and 8 under the three certificates (raw, fitted
  witness, probe): models with no active unit fail all three; vanilla at kl_weight 1 (active
  units > 0) passes the held-out ones while failing the raw one.
- ``c6``: vanilla, hct and rst-alpha-prefit with a Gaussian decoder of fixed variance sigma^2 on
  both sides of linear-VAE collapse thresholds (T12: a direction is active at the linear
  optimum iff its data-covariance eigenvalue exceeds kl_weight * sigma^2), kl_weight in {1, 2,
  4, 8}. HCT v1's claim: non-collapsed representations whatever sigma^2 and kl_weight.
"""
from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from empirical import io as eio
from empirical.config import ExperimentConfig
from empirical.configure import apply_overrides, provenance, replace
from empirical.experiments.grid import Trial, run_trials
from empirical.methods import get_method
from empirical.report import figures, tables
from empirical.report.tables import summary_table, write_experiment_summary
from empirical.training.experiment import prepare

__all__ = ["CompareConfig", "GRIDS", "parse_entry", "compare_trials", "run_compare", "evaluate_c4", "evaluate_c5",
           "evaluate_c6", "evaluate_c7", "COMPARE_COLUMNS", "WITNESS_METHODS", "C5_PUBLISHED",
           "c5_published_range", "c5_published_table"]

WITNESS_METHODS = ("rst", "rst-prefit", "rst-alpha-prefit")

C4_ENTRIES = ("vanilla@1", "vanilla@4", "kl-anneal", "free-bits", "aggressive", "lr-vae", "hct", "rst", "rst-prefit",
              "rst-alpha-prefit")
C5_ENTRIES = tuple(f"lr-vae@{k:g}:alpha_T={a:g}" for a in (0.4, 1.0) for k in (0.1, 0.2, 1.0)) + \
    tuple(f"vanilla@{k:g}" for k in (0.1, 0.2, 1.0))
#: Published numbers of C5 (arXiv:2508.12530 through its seed summary; shallow networks, Fashion-MNIST).
C5_PUBLISHED_LR_VAE_AU_FRACTION: tuple[float, float] = (0.93, 0.96)
C5_PUBLISHED_VANILLA_AU_FRACTION = 0.13   # "about"
C5_PUBLISHED = {"lr-vae_au_fraction": C5_PUBLISHED_LR_VAE_AU_FRACTION,
                "vanilla_au_fraction_about": C5_PUBLISHED_VANILLA_AU_FRACTION}
#: The one grid point the summary names: its suggested first experiment expects LR-VAE above 0.93
#: "with alpha_T = 1.0, beta = 0.2" (the seed summary of arXiv:2508.12530, "First 3 experiments").
C5_NAMED_ENTRY = "lr-vae@0.2:alpha_T=1"
#: A unit counted active by its own KL: mean_x KL(q(z_u|x) || N(0, 1)) > this many nats (ours; beside
#: the variance definition, to see whether the AU definition explains a gap from the published numbers)
C5_UNIT_KL_THRESHOLD = 0.01


def c5_published_range(method: str, kl_weight: float) -> tuple[float, float] | None:
    """The published AU fraction a C5 grid point is set beside: LR-VAE's 0.93-0.96 at every grid point
    (the summary gives one range for the method); a standard VAE's "about 0.13" read as the standard
    VAE, KL weight 1 (ours: the summary states no KL weight); None where nothing is published."""
    if method == "lr-vae":
        return C5_PUBLISHED_LR_VAE_AU_FRACTION
    if method == "vanilla" and kl_weight == 1.0:
        return (C5_PUBLISHED_VANILLA_AU_FRACTION, C5_PUBLISHED_VANILLA_AU_FRACTION)
    return None


def c6_entries(sigma2: Sequence[float], kl_weights=(1, 2, 4, 8)) -> tuple[str, ...]:
    return tuple(f"{m}@{k:g}:model.decoder=gaussian+model.decoder_variance={s:g}"
                 for s in sigma2 for k in kl_weights for m in ("vanilla", "hct", "rst-alpha-prefit"))


C7_ENTRIES = ("vanilla@1", "vanilla@4", "vanilla@8")
GRIDS = {"c4": C4_ENTRIES, "c5": C5_ENTRIES, "c7": C7_ENTRIES}


@dataclass
class CompareConfig:
    grid: str = "c4"                         # c4 | c5 | c6 | c7 | custom (then `entries`)
    entries: tuple[str, ...] = ()            # METHOD[@KL][:key=value+...]; empty: the named grid's
    c6_sigma2: tuple[float, ...] = (0.02, 0.3)   # c6: decoder variances; on digits kl_weight * sigma^2 then
                                                 # crosses the data-covariance spectrum (0.71 ... 0.04)

    def __post_init__(self):
        # a fixed set of choices is checked when the config resolves (so a config file's bad
        # value is an error naming the file), not when the grid is expanded
        if not self.entries and self.grid != "c6" and self.grid not in GRIDS:
            raise ValueError(f"compare.grid must be one of {', '.join(sorted([*GRIDS, 'c6']))} (or give "
                             f"compare.entries), got {self.grid!r}")


# (column, metric key, format): the raw certificate first, then what a collapse study reports
COMPARE_COLUMNS = [("G_T", "G_T", ".3f"), ("G_fitted", "G_fitted", ".3f"), ("G_probe", "G_probe", ".3f"),
                   ("AU", "active_units", ".1f"), ("AU frac", "active_fraction", ".2f"), ("MI", "mi_full", ".3f"),
                   ("MI matched", "mi_matched_full", ".3f"), ("KL", "kl", ".3f"), ("Rec", "rec", ".2f"),
                   ("I_T", "I_T", ".4f")]
#: the certified counts next to the raw one: fitted witness, probe (held-out, T2H) and MI > mean KL (noise)
COMPARE_COLUMNS += tables.CERTIFIED_COLUMNS
COMPARE_COUNTS = [*tables.CERTIFIED_COUNTS, ("MI>KL", "mi_noise")]


def parse_entry(entry: str, base: ExperimentConfig) -> tuple[str, ExperimentConfig]:
    """``METHOD[@KL][:key=value+key=value]`` -> (label, config). Bare keys are ``method.`` keys."""
    head, _, settings = entry.partition(":")
    method, _, kl = head.partition("@")
    try:
        config = replace(base, method_name=method.strip(),
                              train__kl_weight=float(kl) if kl else base.train.kl_weight)
    except ValueError as exc:
        raise ValueError(f"compare entry {entry!r}: {exc}") from None
    items = [s.strip() for s in settings.split("+") if s.strip()]
    dotted = [s if "." in s.split("=", 1)[0] else f"method.{s}" for s in items]
    try:
        config = apply_overrides(config, dotted)
    except ValueError as exc:
        raise ValueError(f"compare entry {entry!r}: {exc}") from None
    return entry.strip(), config


def _entries(cfg: CompareConfig) -> tuple[str, ...]:
    if cfg.entries:
        return cfg.entries
    if cfg.grid == "c6":
        return c6_entries(cfg.c6_sigma2)
    return GRIDS[cfg.grid]          # CompareConfig checked the name


def _slug(label: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_.@" else "_" for ch in label)


def compare_trials(base: ExperimentConfig, cfg: CompareConfig, seeds: Sequence[int], runs: Path) -> list[Trial]:
    trials = []
    for entry in _entries(cfg):
        label, config = parse_entry(entry, base)
        for s in seeds:
            trials.append(Trial(label, replace(config, train__seed=s, out_dir=str(runs / _slug(label) / f"seed{s}"))))
    return trials


def _display(label: str) -> str:
    method = label.partition(":")[0].partition("@")[0]
    tag = getattr(get_method(method), "label", "")
    return f"{label} [{tag}]" if tag else label


def run_compare(base: ExperimentConfig, cfg: CompareConfig, *, seeds: Sequence[int], out_dir, runs_dir,
                fresh: bool = False, progress: bool = False, log=print, executor=None,
                retry_failed: bool = False) -> dict:
    """Train every entry for every seed; write the table (md/csv/json), plots and summary.
    The trials run through the sweep layer in ``runs_dir`` (``executor``: an empirical.sweep.ExecutorSpec)."""
    if not seeds:
        raise ValueError("seeds must name at least one seed, e.g. --seeds 5")
    t0 = time.perf_counter()
    out, runs = Path(out_dir), Path(runs_dir)
    trials = compare_trials(base, cfg, seeds, runs)
    experiments: dict = {}
    log(f"compare on {base.data.name} ({cfg.grid}): {len(trials)} runs -> {out}")
    (out / "runs.jsonl").unlink(missing_ok=True)
    for trial in trials:   # one prepared experiment per (data, teacher, witness, latent size)
        key = json.dumps(eio.to_jsonable([trial.config.data, trial.config.teacher, trial.config.witness,
                                          trial.config.model.latent_dim]))
        if key not in experiments:
            experiments[key] = prepare(trial.config)
    records = run_trials(trials, experiment=list(experiments.values()), fresh=fresh, progress=progress, log=log,
                         on_record=lambda r: eio.append_jsonl(out / "runs.jsonl", r), sweep_dir=runs,
                         executor=executor, retry_failed=retry_failed)
    md, csv, rows = compare_table(records, base.data.name, seeds)
    eio.atomic_write_text(out / "compare_table.md", md)
    eio.atomic_write_text(out / "compare_table.csv", csv)
    eio.atomic_write_json(out / "compare_table.json", rows)
    claims: dict = {}
    if cfg.grid == "c4" and not cfg.entries:
        claims["C4"] = evaluate_c4(records)
    if cfg.grid == "c5" and not cfg.entries:
        claims["C5"] = evaluate_c5(records, base.model.latent_dim)
        claims["C5"]["beside_published"] = c5_published_table(records, base.model.latent_dim)
    if cfg.grid == "c7" and not cfg.entries:
        claims["C7"] = evaluate_c7(records)
    if cfg.grid == "c6" and not cfg.entries:
        x = next(iter(experiments.values())).dataset.x_train
        claims["C6"] = evaluate_c6(records, np.linalg.eigvalsh(np.cov(np.asarray(x, np.float64).reshape(len(x), -1).T)),
                                   base.model.latent_dim)
    summary = {"dataset": base.data.name, "grid": cfg.grid, "entries": list(_entries(cfg)), "seeds": list(seeds),
               "claims": claims, "n_runs": len(records), "wall_seconds": time.perf_counter() - t0,
               "config": base, "compare_config": cfg, "table": rows, "provenance": provenance(base)}
    return write_experiment_summary(out, summary, records, lambda: plots(records, out, base.data.name))


def compare_table(records: list[dict], dataset: str = "", seeds: Sequence[int] | None = None) -> tuple[str, str, list]:
    """Markdown (with its note), CSV and JSON rows of the compare table; sets each record's ``display``."""
    for r in records:
        r["display"] = _display(r["group"])
    if seeds is None:
        seeds = sorted({r["seed"] for r in records})
    order = {label: i for i, label in enumerate(dict.fromkeys(r["display"] for r in records))}
    md, csv, rows = summary_table(records, ("display",), COMPARE_COLUMNS, order=lambda k: order[k[0]],
                                  counts=COMPARE_COUNTS)
    note = (f"\n{dataset}, test split, mean ± sample sd over {len(seeds)} seeds (seeds {list(seeds)}). "
            "G_T: raw certificate margin (fixed witness on the first K-1 latent coordinates); certified: G_T > "
            "its float error bound. G_fitted / G_probe: the held-out certificates (T2H): a witness frame and scale "
            "(fitted cert.) or a multinomial logistic probe (probe cert.) fitted on training-split codes only, "
            "scored on the test split. AU: active units (Var_x mu_u >= 0.01), AU frac = AU / d. MI: He et al. "
            "(2019) estimator over the whole split, z from the run's seed; MI matched: the matched-sample form "
            "(exactly 0 at exact collapse); MI>KL: seeds whose He et al. estimate exceeds the mean "
            "KL(q(z|x) || p(z)), an upper bound on the true MI (estimator noise). KL: KL(q(z|x) || N(0, I)) per "
            "image; Rec: -log p(x|z) per image (nats). n/a: not computed by the code that trained the run.\n\n"
            f"{tables.certified_note(records)}\n")
    return md + note, csv, rows


def plots(records: list[dict], out: Path, name: str) -> list[Path]:
    groups = list(dict.fromkeys(r["display"] for r in records))
    rs = [dict(r, group=r["display"]) for r in records]
    info = float(np.mean([r["I_T"] for r in records]))
    return [figures.plot_margin_by_group(rs, groups, lambda g: g[:40], out / "margin_by_method.png",
                                         title=f"{name}: raw certificate margin per method and seed",
                                         teacher_information=info, rotate=True),
            figures.plot_scatter(rs, "G_T", "active_units", "group", out / "au_vs_margin.png",
                                 title=f"{name}: active units against the raw margin", xlabel="G_T (nats, test)",
                                 ylabel="active units", hline=None)]


def evaluate_c4(records: list[dict]) -> dict:
    """C4: every non-witness method negative (not certified) under the raw certificate in every seed."""
    per = {}
    for label in dict.fromkeys(r["group"] for r in records):
        rs = [r for r in records if r["group"] == label]
        method = rs[0]["method"]
        if method in WITNESS_METHODS:
            continue
        per[label] = {"G_T": [round(r["G_T"], 4) for r in rs], "certified": sum(bool(r["certified"]) for r in rs),
                      "n": len(rs), "holds": not any(r["certified"] for r in rs)}
    return {"statement": "every non-witness method is not certified under the raw certificate in every seed "
                         "(arXiv:2605.05813)", "holds": all(p["holds"] for p in per.values()), "evidence": per}


def evaluate_c5(records: list[dict], latent_dim: int) -> dict:
    lo, hi = C5_PUBLISHED_LR_VAE_AU_FRACTION
    per: dict[str, dict[str, Any]] = {}
    for label in dict.fromkeys(r["group"] for r in records):
        rs = [r for r in records if r["group"] == label]
        frac = float(np.mean([r["active_units"] / latent_dim for r in rs]))
        per[label] = {"au_fraction_mean": frac, "au_fraction": [r["active_units"] / latent_dim for r in rs],
                      "kl_mean": float(np.mean([r["kl"] for r in rs])), "mi_mean": float(np.mean([r["mi_full"] for r in rs])),
                      "certified": sum(bool(r["certified"]) for r in rs), "n": len(rs)}
    lr = {k: v for k, v in per.items() if k.startswith("lr-vae")}
    van = {k: v for k, v in per.items() if k.startswith("vanilla")}
    lr_high = bool(lr) and all(v["au_fraction_mean"] >= lo for v in lr.values())
    # the published claim is the contrast: LR-VAE high where a standard VAE collapses (about 0.13);
    # "collapses" here: a mean AU fraction of at most 0.5 at every kl_weight of the grid (ours)
    vanilla_low = bool(van) and all(v["au_fraction_mean"] <= 0.5 for v in van.values())
    reproduced = lr_high and vanilla_low
    return {"statement": f"LR-VAE reaches an AU fraction of {lo}-{hi} over the grid where a standard VAE has about "
                         f"{C5_PUBLISHED_VANILLA_AU_FRACTION} (arXiv:2508.12530, published)",
            "holds": reproduced, "lr_vae_at_least_published": lr_high, "vanilla_collapses_as_published": vanilla_low,
            "evidence": per,
            "note": "reproduced means: every LR-VAE grid point has a mean AU fraction >= the published lower end "
                    "AND the standard VAE's mean AU fraction is <= 0.5 at every kl_weight (the published contrast); "
                    "vanilla AU fractions here: " + ", ".join(f"{k}: {v['au_fraction_mean']:.2f}" for k, v in van.items())}


def _mean_or_na(records: list[dict], key: str) -> str:
    if any(r.get(key) is None for r in records):
        return "n/a"
    return f"{float(np.mean([float(r[key]) for r in records])):.3f}"


def c5_published_table(records: list[dict], latent_dim: int) -> str:
    """Markdown: each C5 grid point's AU fraction (mean and per seed), KL, MI and certified information
    (T13's 95% lower bounds, fitted witness, on the means and on sampled codes) beside the published AU
    fraction (:func:`c5_published_range`), with the distance from the published number or range."""
    lines = ["| entry | seeds | AU fraction: mean (per seed) | published AU fraction | here - published "
             f"| AU fraction by unit KL > {C5_UNIT_KL_THRESHOLD:g} | KL | MI | LCB fitted (means) "
             "| LCB fitted (sampled codes) |", "|---" * 10 + "|"]
    for label in dict.fromkeys(r["group"] for r in records):
        rs = [r for r in records if r["group"] == label]
        fracs = [r["active_units"] / latent_dim for r in rs]
        frac = float(np.mean(fracs))
        pub = c5_published_range(rs[0]["method"], float(rs[0]["kl_weight"]))
        if pub is None:
            published, off = "not published", ""
        else:
            lo, hi = pub
            published = (f"{lo:g}-{hi:g}" if hi > lo else f"about {lo:g}") + (" (*)" if label == C5_NAMED_ENTRY else "")
            # distance to the published number, or to the nearer end of the published range (0: inside it)
            gap = frac - hi if frac > hi else (frac - lo if frac < lo else 0.0)
            off = "inside" if gap == 0.0 else f"{gap:+.2f}"
        # the other AU definition in use: a unit is active when its own KL(q(z_u|x) || N(0, 1)), averaged over
        # the rows, exceeds a threshold (records carry kl_per_dim, the test split's per-unit KL)
        by_kl = ("n/a" if any(r.get("kl_per_dim") is None for r in rs) else
                 f"{float(np.mean([np.sum(np.asarray(r['kl_per_dim']) > C5_UNIT_KL_THRESHOLD) for r in rs])) / latent_dim:.2f}")
        means = [_mean_or_na(rs, key) for key in ("kl", "mi_full", "lcb_fitted", "lcb_post_fitted")]
        lines.append(f"| {label} | {len(rs)} | **{frac:.2f}** ({', '.join(f'{f:.2f}' for f in fracs)}) | {published} "
                     f"| {off} | {by_kl} | " + " | ".join(means) + " |")
    return ("\n".join(lines) + "\n\nPublished: arXiv:2508.12530 (LR-VAE) through its summary: AU fraction "
            f"{C5_PUBLISHED_LR_VAE_AU_FRACTION[0]:g}-{C5_PUBLISHED_LR_VAE_AU_FRACTION[1]:g} for LR-VAE against about "
            f"{C5_PUBLISHED_VANILLA_AU_FRACTION:g} for a standard VAE on Fashion-MNIST with shallow networks. It names "
            f"one grid point, (*) {C5_NAMED_ENTRY} (its suggested experiment expects LR-VAE above 0.93 there); the range "
            "is set beside every LR-VAE point. It gives no KL weight for the standard VAE, nor a latent size: its "
            "number is set beside KL weight 1 only. AU: units with Var_x mu_u >= 0.01 (Burda et al. 2016, as He et al. "
            f"2019 count them), fraction AU / d; by unit KL: units whose mean KL to N(0, 1) exceeds "
            f"{C5_UNIT_KL_THRESHOLD:g} nats (ours, the other definition in use). KL, MI (He et al.) in nats. LCB: "
            "certified information in nats (T13, 95%).\n")


def evaluate_c6(records: list[dict], eigenvalues: np.ndarray, latent_dim: int) -> dict:
    """C6: HCT (reconstruction) keeps active units > 0 at every decoder variance and kl_weight.

    Each entry also carries the T12 reference: the number of latent directions a *linear* VAE keeps
    at its global optimum, #{eigenvalues of the data covariance > kl_weight sigma^2} capped at d
    (these networks are not linear: a reference point, not a prediction asserted here)."""
    per = {}
    for label in dict.fromkeys(r["group"] for r in records):
        rs = [r for r in records if r["group"] == label]
        c = rs[0]
        threshold = c["kl_weight"] * float(label.split("decoder_variance=")[1].split("+")[0])
        per[label] = {"linear_vae_active_directions": int(min(latent_dim, (eigenvalues > threshold).sum())),
                      "threshold_kl_sigma2": threshold, "active_units": [r["active_units"] for r in rs],
                      "certified": sum(bool(r["certified"]) for r in rs), "G_T_mean": float(np.mean([r["G_T"] for r in rs])),
                      "kl_mean": float(np.mean([r["kl"] for r in rs])), "n": len(rs)}
    hct = {k: v for k, v in per.items() if k.startswith("hct")}
    return {"statement": "HCT (reconstruction of v1) gives non-collapsed representations (active units > 0 in "
                         "every seed) at every decoder variance and kl_weight (arXiv:2603.10935 v1)",
            "holds": bool(hct) and all(min(v["active_units"]) > 0 for v in hct.values()), "evidence": per}


def evaluate_c7(records: list[dict]) -> dict:
    """C7 (ours, restated with T13): vanilla at kl_weight >= 4 is not certified at 1 - delta by the
    posterior certificate (fitted witness or probe on sampled codes) in any seed, whatever its mean
    certificate says (reported beside it); vanilla at kl_weight 1 with active units is certified at
    1 - delta by the fitted-witness and probe certificates of the means while the raw one fails."""
    per, holds = {}, True
    for label in dict.fromkeys(r["group"] for r in records):
        rs = [r for r in records if r["group"] == label]
        rows = [{"seed": r["seed"], "active_units": r["active_units"], "raw": bool(r["certified"]),
                 "fitted": r.get("certified_fitted"), "probe": r.get("certified_probe"),
                 "post_fitted": r.get("certified_post_fitted"), "post_probe": r.get("certified_post_probe"),
                 "G_T": r["G_T"], "lcb_fitted": r.get("lcb_fitted"), "lcb_probe": r.get("lcb_probe"),
                 "lcb_post_fitted": r.get("lcb_post_fitted"), "lcb_post_probe": r.get("lcb_post_probe"),
                 "kl_rate": r.get("kl_rate")} for r in rs]
        for row in rows:
            if rs[0]["kl_weight"] >= 4.0:
                row["expected"] = "posterior certificate not certified (fitted and probe)"
                row["holds"] = row["post_fitted"] is False and row["post_probe"] is False
            elif rs[0]["kl_weight"] == 1.0 and row["active_units"] > 0:
                row["expected"] = "raw fails, fitted and probe certified"
                row["holds"] = not row["raw"] and row["fitted"] is True and row["probe"] is True
            else:
                row["expected"] = "(no prediction)"
                row["holds"] = True
            holds &= bool(row["holds"])
        per[label] = rows
    return {"statement": "vanilla at kl_weight >= 4 is not certified at 1 - delta by the posterior certificate (the "
                         "mean certificate beside it); vanilla at kl_weight 1 with active units is certified at "
                         "1 - delta by the fitted-witness and probe certificates while failing the raw one (ours)",
            "holds": holds, "evidence": per}
