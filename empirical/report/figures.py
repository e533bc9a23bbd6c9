"""Every figure of the package (matplotlib, Agg backend): figures written as PNG, atomically.

Each helper takes already-computed numbers (never recomputes a formula) and a path, and
returns the path it wrote. Figures are rendered into memory and written with
``empirical.io.atomic_write_bytes``, so a reader never sees a half-written PNG.
"""
from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")  # no display on servers; set before pyplot is imported
import matplotlib.pyplot as plt  # noqa: E402

from empirical.io import atomic_write_bytes  # noqa: E402

__all__ = ["save_figure", "plot_margin_energy_path", "plot_escape_trajectories", "plot_rescue_margins",
           "plot_frontier", "plot_margin_by_group", "plot_margin_vs_kl_weight", "plot_scatter"]

_MODE_LABELS = {
    "scaled": r"scaled: $\mu_i(s) = s\,\mu^*(T_i)$  (energy $\frac{1}{2}E\|\mu\|^2$)",
    "interpolate": r"interpolate: $(1-s)\bar\mu + s\,\mu^*(T_i)$  (excess energy)",
}


def save_figure(fig, path: str | Path, dpi: int = 120) -> Path:
    """Render ``fig`` to PNG in memory, write it atomically, close the figure."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return atomic_write_bytes(path, buf.getvalue())


def plot_margin_energy_path(paths: Sequence, path: str | Path, *, title: str | None = None,
                            exact_code_energy: float | None = None) -> Path:
    """Margin-energy path (T7) of one teacher: G(s) against latent energy, and G(s) against s.

    ``paths`` are ``witness_theory.MarginEnergyPath`` objects (both modes: "scaled" and
    "interpolate"); the dashed line is I_T, the largest margin any encoder can reach (T2).
    """
    if not paths:
        raise ValueError("paths must contain at least one MarginEnergyPath")
    fig, (ax_e, ax_s) = plt.subplots(1, 2, figsize=(11, 4.2))
    info = paths[0].teacher_information
    for p in paths:
        label = _MODE_LABELS.get(p.mode, p.mode)
        ax_e.plot(p.energy, p.margin, marker="o", ms=3, label=label)
        ax_s.plot(p.s, p.margin, marker="o", ms=3, label=p.mode)
    for ax in (ax_e, ax_s):
        ax.axhline(info, color="k", ls="--", lw=1, label=f"$I_T$ = {info:.4f} nats")
        ax.axhline(0.0, color="grey", lw=0.6)
        ax.set_ylabel(r"margin $G_T$ (nats)")
        ax.grid(alpha=0.3)
    if exact_code_energy is not None:
        ax_e.axvline(exact_code_energy, color="tab:red", ls=":", lw=1,
                     label=f"exact-code energy {exact_code_energy:.4f}")
    ax_e.set_xlabel("latent energy (nats)")
    ax_s.set_xlabel("path parameter s")
    ax_e.legend(fontsize=7, loc="lower right")
    ax_s.legend(fontsize=7, loc="lower right")
    ax_e.set_title("margin vs energy")
    ax_s.set_title("margin vs s")
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)


def _by_seed(rows):
    seeds = sorted({r["seed"] for r in rows})
    return {s: [r for r in rows if r["seed"] == s] for s in seeds}


def plot_escape_trajectories(rows: list[dict], path, title: str = "") -> Path:
    """Margin G_T, L_TS, escape force and gradient norm against the optimizer step, one line per seed."""
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
    return save_figure(fig, path)


PHASE_COLORS = {"1-prevent": "tab:green", "2-collapse": "tab:red", "3-rescue": "tab:blue"}


def plot_rescue_margins(rows: list[dict], path, title: str = "") -> Path:
    """Margin G_T (and active units) over the global epoch across the three phases, one line per seed.

    ``rows``: dicts with seed, phase, global_epoch, G_T, I_T, active_units."""
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
    return save_figure(fig, path)


def plot_frontier(paths: dict, models: list[dict], path, title: str = "", optimal=None) -> Path:
    """T7 paths as margin against latent energy, trained models as points.

    ``paths``: mode -> (energy array, margin array); ``models``: dicts with label, margin,
    energy (mean energy, for the scaled panel) and optionally excess_energy (interpolate panel).
    ``optimal``: (E_min array, margin array), T11's optimal frontier, drawn on the scaled panel
    (mean energy): no code lies to its left."""
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
        if mode == "scaled" and optimal is not None:
            e, g = np.asarray(optimal[0]), np.asarray(optimal[1])
            pos = e > 0
            ax.plot(e[pos], g[pos], "r--", lw=1.5, label="T11 E_min (least energy of any code)")
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
    return save_figure(fig, path)


def plot_margin_by_group(records: list[dict], groups: list, label, path, *, title: str,
                         teacher_information: float | None = None, rotate: bool = False) -> Path:
    """G_T per group (one column per group, one point per seed; green certified, red not), the
    group mean as a bar, I_T (the largest possible margin, T2) dashed. ``label(group)`` names a
    column; ``records`` carry ``group`` (the group key) and ``G_T``, ``certified``."""
    fig, ax = plt.subplots(figsize=(max(6.5, 0.7 * len(groups) + 2), 4.2))
    for i, g in enumerate(groups):
        rs = [r for r in records if r["group"] == g]
        v = [r["G_T"] for r in rs]
        ax.scatter(i + np.linspace(-0.15, 0.15, len(v)), v, zorder=3,
                   color=["C2" if r["certified"] else "C3" for r in rs])
        if v:
            ax.hlines(np.mean(v), i - 0.25, i + 0.25, color="k")
    if teacher_information is not None:
        ax.axhline(teacher_information, ls="--", color="C0", label="I_T (upper bound, T2)")
        ax.set_ylim(top=teacher_information + 0.15 * abs(teacher_information) + 0.05)
    ax.axhline(0, color="gray", lw=0.8, label="G_T = 0 (certified above)")
    ax.set_xticks(range(len(groups)), [label(g) for g in groups], rotation=35 if rotate else 0,
                  ha="right" if rotate else "center", fontsize=8 if rotate else 10)
    ax.set_ylabel("certificate margin G_T (nats, test)")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="lower right")
    return save_figure(fig, path, dpi=110)


def plot_margin_vs_kl_weight(records: list[dict], methods: list[str], path, *, title: str) -> Path:
    """G_T per seed and its mean against kl_weight (log 2 axis), one colour per method."""
    kls = sorted({r["kl_weight"] for r in records})
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for j, m in enumerate(methods):
        xs, means = [], []
        for k in kls:
            g = [r["G_T"] for r in records if r["method"] == m and r["kl_weight"] == k]
            if g:
                ax.scatter([k * (1 + 0.04 * (2 * j - 1))] * len(g), g, color=f"C{j}", alpha=0.5, s=14)
                xs.append(k)
                means.append(np.mean(g))
        ax.plot(xs, means, "-o", color=f"C{j}", label=m)
    ax.axhline(0, color="gray", lw=0.8)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("kl_weight")
    ax.set_ylabel("G_T (nats, test)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return save_figure(fig, path, dpi=110)


def plot_scatter(records: list[dict], x: str, y: str, group: str, path, *, title: str, xlabel: str,
                 ylabel: str, hline: float | None = 0.0) -> Path:
    """One point per record, one colour per ``group`` value (e.g. AU against G_T per method)."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    names = list(dict.fromkeys(str(r[group]) for r in records))
    markers = "os^vD<>pPX*h"
    for i, name in enumerate(names):
        rs = [r for r in records if str(r[group]) == name]
        ax.scatter([r[x] for r in rs], [r[y] for r in rs], label=name, s=22, color=f"C{i % 10}",
                   marker=markers[i // 10 % len(markers)])
    if hline is not None:
        ax.axhline(hline, color="gray", lw=0.8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=7, ncol=2)
    return save_figure(fig, path, dpi=110)
