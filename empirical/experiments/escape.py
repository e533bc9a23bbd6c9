"""Escape from the collapsed manifold (T6) on real teachers and real trained encoders.

Three experiments, all on the training split (the data the gradients are computed on):

1. **Collapsed-point checks** (:func:`collapse_checks`). A VAE encoder is initialised exactly
   collapsed at the best constant code: ``mean_layer.weight = 0``, ``mean_layer.bias =
   mubar = witness_theory.best_constant_code(T_train, witness)``, so mu(x) = mubar for every
   x. There, on the real model output and with torch autograd:

   - the per-sample gradients of L_TS w.r.t. the encoder means equal the closed form
     beta A (S(mu_i) - T_i) (``witness_theory.alignment_gradient``) and, at the best constant,
     beta A (Tbar - T_i) = -``escape_field(T, mubar)``; their weighted mean (and so the
     gradient w.r.t. ``mean_layer.bias``) is zero;
   - the escape force sum_i w_i ||grad_i||^2 equals beta^2 kappa sum_i w_i ||T_i - Tbar||^2
     (``witness_theory.escape_force``; the T6 ledger check holds on the same teacher);
   - the gradient w.r.t. ``mean_layer.weight`` is, by the chain rule,
     (1/N) sum_i g_i h_i^T = -beta A C with C = (1/N) sum_i (T_i - Tbar)(h_i - hbar)^T the
     teacher / penultimate-feature cross-covariance (the mean gradient is zero, so hbar drops
     out). Since the columns of C sum to zero and A^T A = kappa (I - 11^T/K) (T3),
     ||grad_W||_F = beta sqrt(kappa) ||C||_F: the weight gradient is nonzero exactly when the
     teacher correlates with the features. Both are computed and asserted.

2. **One explicit escape step** of size 2 / (beta^2 kappa) along the teacher-residual field
   (``witness_theory.escape_step``) gives G_T >= R = sum_i w_i ||T_i - Tbar||^2 > 0
   (asserted through the ledger's ``T6.check`` on the real teacher).

3. **Escape trajectories**: ``empirical.training.loop.train`` (method ``rst``: alignment on) started
   from the collapsed initialisation (``init_from``); a ``step_callback`` records the margin,
   L_TS and escape force of the whole training split (``witness_theory.certify`` on float64
   encoder means) and the parameter-space gradient norms every ``record_every`` steps. The
   margin must rise from "not certified" (G_T <= 0 at the collapsed point, T1/T2) to
   "certified" in every seed. There is no second training loop here.

Tolerances (float32 model vs float64 reference). The model computes in float32 (unit
roundoff u = 2^-24 ~ 6e-8). A per-sample gradient has norm at most beta sqrt(2 kappa)
(||beta A (S - T)|| <= beta sqrt(kappa) ||S - T|| <= beta sqrt(2 kappa)); its float32 value
comes from d-term logit dot products, a K-term log-softmax and the batch mean's 1/N scaling,
each a few ulps, and the bias mubar itself is rounded to float32 (which moves S(mubar) off
Tbar by ~u beta |mubar|). ``GRAD_RTOL`` = 2e-5 of that scale (~300 ulps) covers all of it
with margin while a wrong constant (a missing kappa, beta or 1/N) is off by O(1). Sums and
means over N rows in float64 of float32 values add no more than that. The escape force is a
mean of squared norms, so its relative tolerance is twice ``GRAD_RTOL``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

import witness_theory as wt
from empirical import io as eio
from empirical.configure import config_to_dict, provenance, replace
from empirical.report.tables import csv_table, markdown_table
from empirical.training.checkpoints import save_checkpoint
from empirical.training.evaluation import encode_split
from empirical.training.experiment import build_model, prepare
from empirical.training.loop import train
from witness_theory import theorems

__all__ = ["EscapeConfig", "GRAD_RTOL", "collapse_model", "save_collapsed_init", "collapse_checks",
           "escape_step_check", "escape_trajectory", "run_escape", "EscapeFailure"]

GRAD_RTOL = 2e-5


class EscapeFailure(AssertionError):
    """A T6 prediction failed on a real model or teacher; the message carries the numbers."""


@dataclass
class EscapeConfig:
    """The escape experiment's own settings (``--set escape.KEY=VALUE``); the network, optimiser,
    teacher, KL weight and alignment weight are the config tree's (method ``rst``)."""
    epochs: int = 3                  # training epochs of each trajectory (digits: 12 steps/epoch)
    record_every: int = 2            # optimizer steps between trajectory records


def _train_config(base, cfg: EscapeConfig, seed: int, out_dir: Path):
    """The rst run of a trajectory: evaluated once, at the end."""
    return replace(base, method_name="rst", train__epochs=cfg.epochs, train__seed=seed, train__eval_every=10 ** 6,
                        out_dir=str(out_dir))


# ---------------------------------------------------------------------------------------
# The collapsed initialisation
# ---------------------------------------------------------------------------------------

@torch.no_grad()
def collapse_model(model, code) -> None:
    """Make the encoder mean exactly constant: mean_layer.weight = 0, mean_layer.bias = code.

    mu(x) = 0 h(x) + code = code exactly (in floating point too, for finite features h)."""
    layer = model.mean_layer
    c = torch.as_tensor(np.asarray(code, dtype=np.float64), dtype=layer.bias.dtype, device=layer.bias.device)
    if c.shape != layer.bias.shape:
        raise ValueError(f"code has shape {tuple(c.shape)} but mean_layer.bias has {tuple(layer.bias.shape)}")
    layer.weight.zero_()
    layer.bias.copy_(c)


def save_collapsed_init(config, experiment, path) -> Path:
    """Write a checkpoint (``{"model": state_dict, "config": ...}``) of a VAE built exactly as
    ``train(config)`` builds it (same seed) and collapsed at the best constant code; pass it to
    ``train(..., init_from=path)``."""

    torch.manual_seed(config.train.seed)
    model = build_model(config, experiment.dataset.image_shape)
    collapse_model(model, wt.best_constant_code(experiment.teacher_np("train"), experiment.witness))
    # save_checkpoint records the content hash that train(init_from=...) verifies on load (a bare
    # torch.save made every escape warn "no content hash (written by an older version)")
    save_checkpoint(Path(path), model=model.state_dict(), config=config_to_dict(config),
                    note="collapsed initialisation: mean_layer.weight = 0, bias = best constant code")
    return Path(path)


# ---------------------------------------------------------------------------------------
# 1. Gradient checks at the collapsed point
# ---------------------------------------------------------------------------------------

def _fail(name: str, got, want, tol) -> EscapeFailure:
    return EscapeFailure(f"{name}: got {got!r}, expected {want!r} (tolerance {tol!r})")


def collapse_checks(model, experiment, *, chunk: int = 8192) -> dict:
    """Assert the T6 predictions at the collapsed point on the real model (see module doc).

    ``model`` must be collapsed (constant encoder mean). Uses the whole training split; returns
    every measured number, reference value, residual and tolerance. Raises EscapeFailure.
    """
    exp = experiment
    witness = exp.witness
    T = exp.teacher_np("train")                                     # (N, K) float64
    N, K = T.shape
    beta, kappa = witness.scale, witness.kappa
    scale = beta * math.sqrt(2 * kappa)                             # bound on any ||grad_i||
    tol_grad = GRAD_RTOL * scale
    layer = model.mean_layer
    was_training = model.training
    model.eval()

    feats = []
    hook = layer.register_forward_hook(lambda mod, inp, out: feats.append(inp[0]))
    try:
        per_sample, h_all, mu_all = [], [], []
        grad_w = torch.zeros_like(layer.weight, dtype=torch.float64)
        grad_b = torch.zeros_like(layer.bias, dtype=torch.float64)
        for start in range(0, N, chunk):                            # chunks only bound memory
            sl = slice(start, start + chunk)
            feats.clear()
            mu, _ = model.encode(exp.x_train[sl])                   # (B, d) float32
            h = feats[0]                                            # (B, H) penultimate features
            B = mu.shape[0]
            loss = exp.head.alignment_loss(mu, exp.T_train[sl])     # mean_i KL(T_i || S(mu_i))
            g_mu, g_w, g_b = torch.autograd.grad(loss, [mu, layer.weight, layer.bias])
            per_sample.append((g_mu.double() * B).cpu())            # d(mean)/d mu_i = grad_i / B
            grad_w += g_w.double() * (B / N)                        # gradient of the full-data mean
            grad_b += g_b.double() * (B / N)
            h_all.append(h.detach().double().cpu())
            mu_all.append(mu.detach().double().cpu())
    finally:
        hook.remove()
        model.train(was_training)
    G = torch.cat(per_sample).numpy()                               # (N, d) autograd per-sample gradients
    H = torch.cat(h_all).numpy()                                    # (N, H)
    MU = torch.cat(mu_all).numpy()                                  # (N, d)
    grad_w_np, grad_b_np = grad_w.cpu().numpy(), grad_b.cpu().numpy()

    out: dict = {"N": N, "K": K, "d": witness.d, "witness_scale": beta, "grad_rtol": GRAD_RTOL,
                 "tolerance_grad": tol_grad}
    c = MU[0]
    if not np.all(MU == c):
        raise _fail("encoder mean constant on the data (collapsed)", float(np.abs(MU - c).max()), 0.0, 0.0)
    mubar = wt.best_constant_code(T, witness)
    out["max_abs_code_minus_mubar"] = float(np.abs(c - mubar).max())   # float32 rounding of the bias

    closed_form = wt.alignment_gradient(T, MU, witness)             # beta A (S(mu_i) - T_i), float64
    at_best = -wt.escape_field(T, mubar, witness)                   # beta A (Tbar - T_i)
    checks = {
        "max |autograd grad_i - beta A (S(mu_i) - T_i)|": (float(np.abs(G - closed_form).max()), 0.0, tol_grad),
        "max |autograd grad_i - beta A (Tbar - T_i)|": (float(np.abs(G - at_best).max()), 0.0, tol_grad),
        "max |sum_i w_i grad_i| (weighted mean gradient)": (float(np.abs(G.mean(axis=0)).max()), 0.0, tol_grad),
        "max |grad of mean_layer.bias|": (float(np.abs(grad_b_np).max()), 0.0, tol_grad),
    }
    tbar = wt.teacher_marginal(T)
    R_bar = float(np.mean(((T - tbar) ** 2).sum(axis=1)))           # sum_i w_i ||T_i - Tbar||^2
    b2k = beta ** 2 * kappa
    force_measured = float(np.mean((G ** 2).sum(axis=1)))           # escape force of the real model
    force_reference = wt.escape_force(T, np.repeat(mubar[None], N, 0), witness)
    t6 = theorems.T6.check(T, witness)
    if not t6.holds:
        raise EscapeFailure(f"T6 ledger check fails on the real teacher:\n{t6}")
    checks["escape force (autograd) vs beta^2 kappa sum w ||T_i - Tbar||^2"] = (
        force_measured, b2k * R_bar, 2 * GRAD_RTOL * b2k * R_bar)
    checks["escape force (witness_theory.escape_force) vs beta^2 kappa R"] = (
        force_reference, b2k * R_bar, theorems.DEFAULT_RTOL * (1 + 2 * b2k * R_bar))

    # Teacher / penultimate-feature cross-covariance and the weight gradient (chain rule).
    Hc = H - H.mean(axis=0)
    C = (T - tbar).T @ Hc / N                                       # (K, H)
    grad_w_chain = at_best.T @ H / N                                # (d, H) = (1/N) sum_i g_i h_i^T
    c_norm = float(np.linalg.norm(C))
    gw_norm = float(np.linalg.norm(grad_w_np))
    h_scale = float(np.abs(H).max()) if H.size else 0.0
    # grad_W entries are means of g_i h_i: the per-sample tolerance scaled by the feature size
    checks["max |autograd grad_W - (1/N) sum_i g_i h_i^T|"] = (
        float(np.abs(grad_w_np - grad_w_chain).max()), 0.0, tol_grad * (1 + h_scale))
    # the norm identity, in float64 on the chain-rule gradient (the autograd gradient is tied to
    # it entrywise just above): ||(1/N) sum g_i h_i^T||_F = beta sqrt(kappa) ||C||_F
    ref_norm = beta * math.sqrt(kappa) * c_norm
    chain_norm = float(np.linalg.norm(grad_w_chain))
    checks["||(1/N) sum_i g_i h_i^T||_F vs beta sqrt(kappa) ||C||_F"] = (
        chain_norm, ref_norm, theorems.DEFAULT_RTOL * (1 + chain_norm + ref_norm) * (1 + h_scale))
    sd_t, sd_h = (T - tbar).std(axis=0), Hc.std(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        corr = np.where(np.outer(sd_t, sd_h) > 0, C / np.outer(sd_t, sd_h), 0.0)  # Pearson, (K, H)
    out.update({
        "I_T": wt.teacher_information(T), "R_bar": R_bar, "beta2_kappa": b2k,
        "escape_force_autograd": force_measured, "escape_force_reference": force_reference,
        "escape_force_closed_form": b2k * R_bar,
        "teacher_feature_crosscov_frobenius": c_norm,
        "teacher_feature_max_abs_correlation": float(np.abs(corr).max()),
        "grad_mean_layer_weight_frobenius": gw_norm,
        "grad_mean_layer_bias_maxabs": float(np.abs(grad_b_np).max()),
        "active_features": int((Hc.std(axis=0) > 0).sum()), "features": int(H.shape[1]),
        "t6_ledger": t6.as_dict(),
    })
    results = {}
    for name, (got, want, tol) in checks.items():
        residual = abs(got - want)
        results[name] = {"measured": got, "reference": want, "residual": residual, "tolerance": tol,
                         "holds": bool(residual <= tol)}
    out["checks"] = results
    failed = [f"{k}: measured {v['measured']:.6g}, reference {v['reference']:.6g}, residual {v['residual']:.3g} "
              f"> tolerance {v['tolerance']:.3g}" for k, v in results.items() if not v["holds"]]
    if failed:
        raise EscapeFailure("T6 at the collapsed point failed:\n  " + "\n  ".join(failed))
    # "nonzero whenever the teacher correlates with the features": both sides, asserted
    if c_norm > 0 and not gw_norm > 0:
        raise _fail("grad_W nonzero when the teacher correlates with the features", gw_norm, "> 0", 0.0)
    if c_norm > tol_grad and gw_norm <= 0:
        raise _fail("||grad_W||_F > 0", gw_norm, "> 0", 0.0)
    out["weight_gradient_nonzero"] = bool(gw_norm > 0)
    out["teacher_correlates_with_features"] = bool(c_norm > 0)
    return out


# ---------------------------------------------------------------------------------------
# 2. One explicit escape step (T6 guarantee)
# ---------------------------------------------------------------------------------------

def escape_step_check(teacher, witness: wt.Witness, weights=None) -> dict:
    """One step 2/(beta^2 kappa) along the residual field from the best constant: G_T >= R.

    Asserted with the ledger's ``T6.check`` (its part "after the step 2/(beta^2 kappa): G_T >= R");
    returns the margin after the step and R. Raises EscapeFailure if the ledger fails."""
    T = np.asarray(teacher, dtype=np.float64)
    w = None if weights is None else np.asarray(weights, dtype=np.float64)
    check = theorems.T6.check(T, witness, weights=w)
    if not check.holds:
        raise EscapeFailure(f"T6 escape-step guarantee fails on the real teacher:\n{check}")
    mubar = wt.best_constant_code(T, witness, w)
    stepped = wt.escape_step(T, mubar, witness)                   # (N, d)
    cert = wt.certify(T, stepped, witness, w)
    wn = np.full(T.shape[0], 1.0 / T.shape[0]) if w is None else w / w.sum()
    R = float(wn @ ((T - wn @ T) ** 2).sum(axis=1))
    if not cert.margin >= R - theorems.DEFAULT_RTOL * (1 + abs(cert.margin) + R):
        raise _fail("margin after one escape step >= R", cert.margin, R, theorems.DEFAULT_RTOL)
    return {"step_size": wt.escape_step_size(witness), "R": R, "margin_after_step": cert.margin,
            "margin_minus_R": cert.margin - R, "I_T": cert.teacher_information,
            "alignment_loss_after_step": cert.alignment_loss, "certified": cert.certified,
            "energy_after_step": cert.code_energy, "t6_ledger": check.as_dict()}


# ---------------------------------------------------------------------------------------
# 3. Escape trajectories through train(..., step_callback=...)
# ---------------------------------------------------------------------------------------

def _grad_norm(params) -> float:
    total = 0.0
    for p in params:
        if p.grad is not None:
            total += float(p.grad.detach().double().pow(2).sum())
    return math.sqrt(total)


def escape_trajectory(base, cfg: EscapeConfig, seed: int, experiment, runs: Path, *, progress: bool = False) -> dict:
    """Train (rst) from the collapsed initialisation and record the escape every few steps."""

    run_dir = Path(runs) / f"seed{seed}"
    config = _train_config(base, cfg, seed, run_dir)
    init_path = save_collapsed_init(config, experiment, run_dir / "collapsed_init.pt")
    T = experiment.teacher_np("train")
    witness = experiment.witness
    records: list[dict] = []
    collapsed_start: dict = {}

    def record(step, model, losses=None):
        mu, _ = encode_split(model, experiment.x_train)             # float64 (N, d); no RNG used
        cert = wt.certify(T, mu, witness)
        if not records:
            # The start must be exactly collapsed, and there T2 (ledger) says L_TS >= I_T: the
            # margin is <= 0 up to the ledger's float64 tolerance (rtol 1e-9). We use the ledger,
            # not certify's verdict, for the start: on 60000 rows certify's a-priori float_error
            # can be smaller than the rounding of a margin that is exactly 0 in real arithmetic.
            t2 = theorems.T2.check(T, mu, witness)
            constant = bool(np.all(mu == mu[0]))
            collapsed_start.update(constant=constant, t2_holds=t2.holds, t2=t2.as_dict(),
                                   zero_band=max(p.tolerance for p in t2.parts))
        rec = {"seed": seed, "step": int(step), "margin": cert.margin, "L_TS": cert.alignment_loss,
               "I_T": cert.teacher_information, "certified": cert.certified, "float_error": cert.float_error,
               "escape_force": cert.escape_force,
               "t8_bound": cert.size_bound, "code_spread": float(mu.std(axis=0).max())}
        if losses is not None:
            rec["grad_norm"] = _grad_norm(model.parameters())
            rec["grad_norm_mean_layer_weight"] = _grad_norm([model.mean_layer.weight])
            rec.update({f"batch_{k}": float(v.detach()) for k, v in losses.items()})
        records.append(rec)

    def callback(step, model, losses):
        if step % cfg.record_every == 0:
            record(step, model, losses)

    result = train(config, experiment=experiment, init_from=init_path, resume=False,
                   step_callback=callback, progress=progress)
    steps_done = records[-1]["step"] if records else 0
    n_batches = math.ceil(experiment.x_train.shape[0] / config.train.batch_size)
    record(n_batches * config.train.epochs, result.model)                  # the state after the last step
    first = records[0]
    band = collapsed_start["zero_band"]
    # escaped: certified by certify AND above the ledger's float64 zero band of the start
    escaped = next((r["step"] for r in records if r["certified"] and r["margin"] > band), None)
    return {"seed": seed, "records": records, "initial_margin": first["margin"],
            "initial_certified": first["certified"], "initial_collapsed": collapsed_start["constant"],
            "initial_t2_holds": collapsed_start["t2_holds"], "zero_band": band,
            "initial_t2": collapsed_start["t2"], "final_margin": records[-1]["margin"],
            "final_certified": records[-1]["certified"], "first_certified_step": escaped,
            "steps": records[-1]["step"], "last_callback_step": steps_done, "run_dir": str(run_dir),
            "test_margin_final": result.final["G_T"]}


def run_escape(base, cfg: EscapeConfig, *, seeds, out_dir, runs_dir, progress: bool = False,
               make_plots: bool = True) -> dict:
    """All three escape experiments; writes results to ``out_dir``, checkpoints to ``runs_dir``."""

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    config0 = _train_config(base, cfg, 0, Path(runs_dir) / "seed0")
    experiment = prepare(config0)
    T = experiment.teacher_np("train")

    # 1. gradient checks at the collapsed point, one model per seed (features differ by seed)
    collapse = []
    for seed in seeds:
        torch.manual_seed(seed)
        model = build_model(replace(config0, train__seed=seed), experiment.dataset.image_shape)
        model.to(experiment.device)
        collapse_model(model, wt.best_constant_code(T, experiment.witness))
        collapse.append({"seed": seed, **collapse_checks(model, experiment)})
    # 2. the explicit escape step on the real teacher
    step = escape_step_check(T, experiment.witness)
    # 3. trajectories
    trajectories = [escape_trajectory(base, cfg, seed, experiment, runs_dir, progress=progress) for seed in seeds]
    # Claim: from the collapsed start (constant codes, T2: margin <= 0 up to the ledger's float64
    # zero band) the margin rises to certified, above that band.
    failures = [f"seed {t['seed']}: margin {t['initial_margin']:.4g} -> {t['final_margin']:.4g}; start "
                f"{'collapsed' if t['initial_collapsed'] else 'NOT collapsed'}, T2 at start "
                f"{'holds' if t['initial_t2_holds'] else 'FAILS'} (zero band {t['zero_band']:.3g}); finally "
                f"{'certified' if t['final_certified'] else 'not certified'}"
                for t in trajectories
                if not (t["initial_collapsed"] and t["initial_t2_holds"] and t["initial_margin"] <= t["zero_band"]
                        and t["final_certified"] and t["final_margin"] > t["zero_band"])]
    certify_unsound = [{"seed": t["seed"], "initial_margin": t["initial_margin"],
                        "float_error": t["records"][0]["float_error"]} for t in trajectories if t["initial_certified"]]

    rows = [r for t in trajectories for r in t["records"]]
    columns = ["seed", "step", "margin", "L_TS", "I_T", "certified", "escape_force", "t8_bound", "code_spread",
               "grad_norm", "grad_norm_mean_layer_weight", "batch_total", "batch_align", "batch_rec", "batch_kl"]
    eio.atomic_write_text(out / "trajectories.csv", csv_table(rows, columns))
    per_seed = [{k: t[k] for k in ("seed", "initial_margin", "initial_certified", "initial_collapsed",
                                   "initial_t2_holds", "zero_band", "first_certified_step",
                                   "final_margin", "final_certified", "steps", "test_margin_final")}
                for t in trajectories]
    table = markdown_table(per_seed, ["seed", "initial_margin", "initial_certified", "first_certified_step", "final_margin",
                                 "final_certified", "test_margin_final"])
    eio.atomic_write_text(out / "trajectories.md", table)
    summary = {"config": cfg, "train_config": config0, "provenance": provenance(base),
               "teacher": getattr(experiment.teacher_result, "path", None),
               "dataset": base.data.name, "seeds": list(seeds), "n_train": int(T.shape[0]), "K": int(T.shape[1]),
               "I_T_train": wt.teacher_information(T),
               "collapse_checks": collapse, "escape_step": step, "trajectories": per_seed,
               "all_escaped": not failures, "failures": failures,
               "certify_verdict_at_collapsed_start": certify_unsound and (
                   "witness_theory.certify called these exactly constant codes 'certified' (margin above its "
                   "a-priori float_error, though T2 makes it <= 0 in real arithmetic): its float_error "
                   "underestimates the rounding of a margin on this many rows",
                   certify_unsound),
               "versions": eio.library_versions()}
    eio.atomic_write_json(out / "summary.json", summary)
    if make_plots:
        from empirical.report.figures import plot_escape_trajectories
        plot_escape_trajectories(rows, out / "trajectories.png",
                                 title=f"{base.data.name}: escape from the best constant code (rst, "
                                       f"kl_weight {base.train.kl_weight:g})")
    if failures:
        raise EscapeFailure("escape trajectories did not go from not certified to certified:\n  "
                            + "\n  ".join(failures) + f"\n(results written to {out})")
    return summary
