"""Plots of the dynamic claims: escape trajectories (T6), prevention/collapse/rescue, and the
margin-energy frontier (T7). Each function takes plain records (lists of dicts / arrays) and
writes one PNG atomically (``empirical.io``), so the plots can be redrawn from the saved JSON/CSV.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from empirical import io as eio

__all__ = ["plot_escape_trajectories", "plot_rescue_margins", "plot_frontier"]


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")  # files only; never opens a window
    import matplotlib.pyplot as plt
    return plt


def _save(fig, path) -> Path:
    plt = _pyplot()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)
    return eio.atomic_write_bytes(path, buf.getvalue())


def _by_seed(rows):
    seeds = sorted({r["seed"] for r in rows})
    return {s: [r for r in rows if r["seed"] == s] for s in seeds}


def plot_escape_trajectories(rows: list[dict], path, title: str = "") -> Path:
    """Margin G_T, L_TS, escape force and gradient norm against the optimizer step, one line per seed."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 4, figsize=(17, 3.8))
    groups = _by_seed(rows)
    for seed, rs in groups.items():
        steps = [r["step"] for r in rs]
        axes[0].plot(steps, [r["margin"] for r in rs], marker=".", label=f"seed {seed}")
        axes[1].plot(steps, [r["L_TS"] for r in rs], marker=".")
        axes[2].plot(steps, [r["escape_force"] for r in rs], marker=".")
        g = [(r["step"], r["grad_norm"]) for r in rs if r.get("grad_norm") is not None]
        if g:
            axes[3].plot(*zip(*g), marker=".")
    if rows:
        axes[1].axhline(rows[0]["I_T"], color="k", ls="--", lw=1, label="I_T (best constant)")
        axes[1].legend(fontsize=8)
    axes[0].axhline(0.0, color="k", lw=1)
    axes[0].set_title("certificate margin G_T (train)")
    axes[1].set_title("alignment loss L_TS (nats)")
    axes[2].set_title("escape force sum w ||grad_i||^2")
    axes[3].set_title("parameter gradient norm (batch)")
    axes[3].set_yscale("log")
    for ax in axes:
        ax.set_xlabel("optimizer step")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return _save(fig, path)


PHASE_COLORS = {"1-prevent": "tab:green", "2-collapse": "tab:red", "3-rescue": "tab:blue"}


def plot_rescue_margins(rows: list[dict], path, title: str = "") -> Path:
    """Margin G_T (and active units) over the global epoch across the three phases, one line per seed.

    ``rows``: dicts with seed, phase, global_epoch, G_T, I_T, active_units."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(13, 4))
    for seed, rs in _by_seed(rows).items():
        rs = sorted(rs, key=lambda r: r["global_epoch"])
        x = [r["global_epoch"] for r in rs]
        axes[0].plot(x, [r["G_T"] for r in rs], color="0.6", lw=0.8, zorder=1)
        axes[1].plot(x, [r["active_units"] for r in rs], color="0.6", lw=0.8, zorder=1)
        for phase, color in PHASE_COLORS.items():
            pr = [r for r in rs if r["phase"] == phase]
            if pr:
                lab = phase if seed == min(r["seed"] for r in rows) else None
                axes[0].scatter([r["global_epoch"] for r in pr], [r["G_T"] for r in pr], s=10, color=color,
                                label=lab, zorder=2)
                axes[1].scatter([r["global_epoch"] for r in pr], [r["active_units"] for r in pr], s=10,
                                color=color, zorder=2)
    if rows:
        axes[0].axhline(rows[0]["I_T"], color="k", ls="--", lw=1, label="I_T (upper limit)")
    axes[0].axhline(0.0, color="k", lw=1)
    axes[0].set_title("certificate margin G_T (test)")
    axes[1].set_title("active units (Var_x mu_u >= 0.01)")
    for ax in axes:
        ax.set_xlabel("epoch (all phases)")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def plot_frontier(paths: dict, models: list[dict], path, title: str = "") -> Path:
    """T7 paths as margin against latent energy, trained models as points.

    ``paths``: mode -> (energy array, margin array); ``models``: dicts with label, margin,
    energy (mean energy, for the scaled panel) and optionally excess_energy (interpolate panel)."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.5))
    panels = (("scaled", "energy", "mean energy (1/2) E||mu||^2 (nats)"),
              ("interpolate", "excess_energy", "excess energy (1/2) E||mu - mubar||^2 (nats)"))
    markers = "osD^v<>ph*"
    methods = sorted({m.get("method", "") for m in models})
    for ax, (mode, key, xlabel) in zip(axes, panels):
        if mode in paths:
            e, g = np.asarray(paths[mode][0]), np.asarray(paths[mode][1])
            pos = e > 0  # log axis: s = 0 (energy 0) is off the plot
            ax.plot(e[pos], g[pos], "k-", lw=2, label=f"T7 path ({mode})")
        for i, method in enumerate(methods):
            pts = [m for m in models if m.get("method", "") == method and m.get(key) is not None and m[key] > 0]
            if pts:
                ax.scatter([m[key] for m in pts], [m["margin"] for m in pts], marker=markers[i % len(markers)],
                           s=40, label=method or "model", zorder=3)
        ax.axhline(0.0, color="0.4", lw=0.8)
        ax.set_xscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("margin G_T (nats)")
        ax.set_title(mode)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return _save(fig, path)
