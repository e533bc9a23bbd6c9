"""Shared plotting helpers (matplotlib, Agg backend): figures written as PNG, atomically.

Each helper takes already-computed numbers (never recomputes a formula) and a path, and
returns the path it wrote. Figures are rendered into memory and written with
``empirical.io.atomic_write_bytes``, so a reader never sees a half-written PNG.
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")  # no display on servers; set before pyplot is imported
import matplotlib.pyplot as plt  # noqa: E402

from empirical.io import atomic_write_bytes  # noqa: E402

__all__ = ["save_figure", "plot_margin_energy_path"]

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
