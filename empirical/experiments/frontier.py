"""The margin-energy frontier (T7) of the real teacher, with trained models placed against it.

For the teacher of the evaluation split we compute both T7 paths with
``witness_theory.margin_energy_path``:

- ``scaled``: mu_i(s) = s mu*(T_i); margin G(s) against the mean energy (1/2) E||mu(s)||^2;
- ``interpolate``: mu_i(s) = (1-s) mubar + s mu*(T_i); margin against the excess energy
  (1/2) E||mu(s) - mubar||^2 over the best constant code mubar = mu*(Tbar).

Both G(s) are nondecreasing (T7) and the energies grow as s^2, so each path is a monotone
curve energy_path(G). Every trained model (encoder means re-encoded from its checkpoint with
``empirical.training.evaluation.encode_checkpoint``, certified with ``witness_theory.certify``) is a point
(its energy, its margin G_T). Its **distance to the frontier** is the extra energy it spends
beyond the path's energy at the same margin,

    distance = energy_model - energy_path(G_T),

with energy_path interpolated linearly in G on a fine s grid (``n_points``; the interpolation
error is below the grid's energy step, reported as ``interpolation_step``). A model whose
margin is below the path's starting margin G(0) has energy_path = 0 (the path spends nothing
there), so its whole energy counts as extra. A negative distance means the model reaches its
margin with less energy than the reference path (the path is a reference, not a proven
minimum for non-exact codes). The distance is reported for the mean energy (scaled path) and
the excess energy (interpolate path), and also with the subspace energy (1/2) E||P^T mu||^2,
the only part of the code the witness sees (T4).

T11 gives what the T7 paths cannot: the least energy of ANY code at a given alignment loss,
E_min(L) = min (1/2) E||mu||^2 subject to L_TS <= L (``witness_theory.frontier``). The curve
(I_T - L, E_min(L)) is drawn on the scaled panel (the scaled path lies on or above it), and for
each model ``frontier_energy_min`` = E_min(its own L_TS) and ``excess_over_min`` = its mean
energy minus that. T11 says excess_over_min >= 0; a negative value beyond the stated tolerance
is counted in ``t11_violations`` (a bound that can fail, unlike the path distances).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

import witness_theory as wt
from empirical import io as eio
from empirical.configure import config_from_dict, replace
from empirical.data.registry import canonical_name
from empirical.data.teacher import FittedTeacher
from empirical.report.tables import csv_table, markdown_table
from empirical.training.evaluation import encode_checkpoint
from empirical.training.experiment import prepare
from witness_theory import frontier as t11
from witness_theory import theorems

__all__ = ["FrontierConfig", "frontier_paths", "frontier_energy", "find_runs", "model_point", "run_frontier"]


@dataclass
class FrontierConfig:
    """The frontier's own settings (``--set frontier.KEY=VALUE``)."""
    split: str = "test"
    n_points: int = 401               # s grid of each path
    n_optimal: int = 41               # multipliers of the T11 curve (geometric grid, default_frontier_lambdas)


def frontier_paths(teacher, witness: wt.Witness, n_points: int = 401) -> dict:
    """Both T7 paths on an s grid (the ledger's T7 check is asserted on the same teacher)."""

    check = theorems.T7.check(teacher, witness)
    if not check.holds:
        raise AssertionError(f"T7 fails on the real teacher:\n{check}")
    s = np.linspace(0.0, 1.0, int(n_points))
    return {mode: wt.margin_energy_path(teacher, witness, s=s, mode=mode) for mode in ("scaled", "interpolate")}


def frontier_energy(path, margin: float) -> float:
    """energy_path(G): the path's energy at margin G (linear interpolation in G; 0 below G(0)).

    G(s) is nondecreasing (T7), so keep the first s of any flat stretch: the least energy
    at which the path reaches that margin."""
    G, E = np.asarray(path.margin), np.asarray(path.energy)
    if margin <= G[0]:
        return 0.0 if margin < G[0] else float(E[0])
    if margin > G[-1] + 1e-12 * (1 + abs(G[-1])):
        raise ValueError(f"margin {margin} exceeds the path's maximum I_T = {G[-1]} (impossible by T2)")
    keep = np.concatenate([[True], np.diff(G) > 0])
    return float(np.interp(margin, G[keep], E[keep]))


def find_runs(claims_dir) -> list[Path]:
    """Run directories (with ``checkpoint.pt`` and ``summary.json``) of a claims run.

    ``claims_dir`` is either the claims results directory (its ``runs.jsonl`` lists every
    trained model's ``run_dir``) or a directory searched recursively for finished runs."""
    root = Path(claims_dir)
    if not root.exists():
        raise FileNotFoundError(f"claims directory {root} does not exist; run `python -m empirical claims "
                                f"--dataset ...` first or pass --claims DIR")
    if (root / "runs.jsonl").exists():
        runs = [Path(r["run_dir"]) for r in eio.read_jsonl(root / "runs.jsonl", "claims runs") if "run_dir" in r]
        missing = [str(r) for r in runs if not (r / "checkpoint.pt").exists()]
        if missing:
            raise FileNotFoundError(f"{root / 'runs.jsonl'} lists runs without checkpoint.pt: {missing[:5]}")
    else:
        runs = sorted({p.parent for p in root.rglob("checkpoint.pt") if (p.parent / "summary.json").exists()})
    if not runs:
        raise FileNotFoundError(f"no finished runs (checkpoint.pt + summary.json) under {root}")
    return runs


def run_teacher(run_dir: Path, split: str) -> tuple[str, np.ndarray]:
    """The teacher a run was trained against (the ``.npz`` its summary names) on ``split``.

    The frontier and the margins must use that teacher: the teacher search may have been
    re-run since (a different cache entry), and a model certified against another teacher's
    outcomes would get a meaningless margin."""

    summary = eio.read_json(run_dir / "summary.json", "run summary")
    path = summary.get("teacher")
    if not path:
        raise ValueError(f"{run_dir / 'summary.json'} does not name its teacher file; re-run that training run")
    fitted = FittedTeacher.load(path)
    T = fitted.T_test if split == "test" else fitted.T_train
    if T is None:
        raise ValueError(f"teacher file {path} holds no T_{split}; re-run the teacher search")
    return str(path), np.asarray(T, dtype=np.float64)


def model_point(run_dir: Path, split: str, experiment, teacher: np.ndarray, witness: wt.Witness,
                paths: dict, mubar: np.ndarray) -> dict:

    enc = encode_checkpoint(run_dir / "checkpoint.pt", split, experiment=experiment)  # uses the data only
    mu = enc["codes"]
    if mu.shape[0] != teacher.shape[0]:
        raise ValueError(f"{run_dir}: {mu.shape[0]} encoded rows but its teacher has {teacher.shape[0]}")
    cert = wt.certify(teacher, mu, witness)
    summary = eio.read_json(run_dir / "summary.json", "run summary")
    config = summary.get("config", {})
    train_cfg = config.get("train", {})
    excess = wt.code_energy(mu - mubar)
    # T11: E_min at the model's own alignment loss; the model's mean energy cannot be below it.
    # Tolerance: E_min is a dual value D - lambda L computed to ~1e-12 relative (brentq xtol 1e-8
    # on log lambda, O(delta^2) in the bound) and the energies are sums of N terms: 1e-9 (1 + E).
    e_min = t11.min_energy(teacher, witness, cert.alignment_loss)
    tol_min = 1e-9 * (1.0 + cert.code_energy)
    e_scaled = frontier_energy(paths["scaled"], cert.margin)
    e_interp = frontier_energy(paths["interpolate"], cert.margin)
    return {
        "run": str(run_dir), "method": config.get("method_name"), "kl_weight": train_cfg.get("kl_weight"),
        "seed": train_cfg.get("seed"), "margin": cert.margin, "certified": cert.certified,
        "summary_margin": summary.get("final", {}).get("G_T"),
        "energy": cert.code_energy, "subspace_energy": cert.subspace_energy, "excess_energy": excess,
        "frontier_energy_scaled": e_scaled, "distance_scaled": cert.code_energy - e_scaled,
        "distance_scaled_subspace": cert.subspace_energy - e_scaled,
        "frontier_energy_interpolate": e_interp, "distance_interpolate": excess - e_interp,
        "alignment_loss": cert.alignment_loss, "frontier_energy_min": e_min,
        "excess_over_min": cert.code_energy - e_min, "t11_holds": bool(cert.code_energy >= e_min - tol_min),
    }


def run_frontier(dataset: str, cfg: FrontierConfig, *, claims_dir, out_dir, device: str = "cpu",
                 make_plots: bool = True) -> dict:
    """The T7 paths of the teacher the runs under ``claims_dir`` were trained against, with each
    run as a point; results to ``out_dir``."""

    claims, out = Path(claims_dir), Path(out_dir)
    runs = find_runs(claims)
    first = config_from_dict(eio.read_json(runs[0] / "summary.json", "run summary")["config"])
    if (canonical_name(first.data.name) or first.data.name) != (canonical_name(dataset) or dataset):
        raise ValueError(f"--dataset {dataset} but the runs under {claims} are on {first.data.name}")
    teacher_path, T = run_teacher(runs[0], cfg.split)
    witness = wt.Witness(T.shape[1], first.model.latent_dim, scale=first.witness.scale)
    experiment = prepare(replace(first, train__device=device))  # the data set, for encoding
    paths = frontier_paths(T, witness, cfg.n_points)
    optimal = t11.margin_energy_frontier(T, witness, lambdas=t11.default_frontier_lambdas(witness, n=cfg.n_optimal))
    mubar = wt.best_constant_code(T, witness)
    models = []
    for run in runs:
        rc = config_from_dict(eio.read_json(run / "summary.json", "run summary")["config"])
        if (rc.witness, rc.model.latent_dim, rc.data) != (first.witness, first.model.latent_dim, first.data):
            raise ValueError(f"{run} has witness {rc.witness}, latent_dim {rc.model.latent_dim}, data {rc.data}, "
                             f"unlike {runs[0]}; one frontier needs one witness and data set")
        path_i, _ = run_teacher(run, cfg.split)
        if path_i != teacher_path:
            raise ValueError(f"{run} was trained against teacher {path_i} but {runs[0]} against {teacher_path}; "
                             "one frontier needs one teacher: re-run the claims with the current teacher")
        models.append(model_point(run, cfg.split, experiment, T, witness, paths, mubar))
    out.mkdir(parents=True, exist_ok=True)
    path_rows = [{"mode": mode, "s": float(s), "margin": float(g), "energy": float(e)}
                 for mode, p in paths.items() for s, g, e in zip(p.s, p.margin, p.energy)]
    eio.atomic_write_text(out / "paths.csv", csv_table(path_rows, ["mode", "s", "margin", "energy"]))
    info = paths["scaled"].teacher_information
    optimal_rows = [{"lambda": float(lam), "loss": float(L), "margin": float(info - L), "energy_min": float(E)}
                    for lam, L, E in zip(optimal.lam, optimal.loss, optimal.energy)]
    eio.atomic_write_text(out / "frontier_t11.csv", csv_table(optimal_rows, ["lambda", "loss", "margin", "energy_min"]))
    cols = ["method", "kl_weight", "seed", "margin", "certified", "energy", "frontier_energy_min", "excess_over_min",
            "t11_holds", "frontier_energy_scaled",
            "distance_scaled", "subspace_energy", "distance_scaled_subspace", "excess_energy",
            "frontier_energy_interpolate", "distance_interpolate"]
    eio.atomic_write_text(out / "models.csv", csv_table(models, cols + ["run"]))
    eio.atomic_write_text(out / "models.md", markdown_table(models, cols))
    steps = {mode: float(np.diff(p.energy).max()) for mode, p in paths.items()}
    summary = {"config": cfg, "dataset": dataset, "claims_dir": str(claims), "teacher": teacher_path, "split": cfg.split,
               "n": int(T.shape[0]), "K": int(T.shape[1]),
               "I_T": paths["scaled"].teacher_information,
               "exact_code_energy": wt.exact_code_energy(T, witness),
               "scaled_G0": float(paths["scaled"].margin[0]), "interpolation_step": steps,
               "t11_violations": sum(not m["t11_holds"] for m in models),
               "t11_min_excess": min(m["excess_over_min"] for m in models),
               "models": models, "versions": eio.library_versions(),
               # the tree of the claims runs it reads (their summary's record; None when there is none)
               "provenance": (eio.read_json(claims / "summary.json", "claims summary").get("provenance")
                              if (claims / "summary.json").is_file() else None)}
    eio.atomic_write_json(out / "summary.json", summary)
    if make_plots:
        from empirical.report.figures import plot_frontier
        plot_frontier({m: (p.energy, p.margin) for m, p in paths.items()}, models, out / "frontier.png",
                      optimal=(optimal.energy, paths["scaled"].teacher_information - optimal.loss),
                      title=f"{first.data.name} ({cfg.split}): T7 paths, the T11 optimal frontier and trained models")
    return summary
