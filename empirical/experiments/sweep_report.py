"""``sweep-report``: merge finished trial directories (local or SLURM) into an experiment's tables.

Above the experiments (it builds the claims, compare or summary tables) and above the sweep layer
(it reads the trials' records), so the executors need know no experiment.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from empirical import io as eio
from empirical.experiments import claims as cl
from empirical.experiments import compare as cp
from empirical.experiments.claims import TABLE_COLUMNS, TABLE_COUNTS
from empirical.experiments.grid import method_order
from empirical.report import figures
from empirical.report.tables import certified_note, summary_table
from empirical.sweep import load_records

__all__ = ["report"]


def report(paths: Sequence[str | Path], out_dir: str | Path, *, kind: str = "auto") -> dict:
    """Merge trial directories into ``kind``'s tables and plots in ``out_dir``: ``claims``
    (certificate table, claims C1-C3), ``compare`` (the compare table) or ``summary`` (one row per
    group); ``auto`` picks claims when the groups look like ``<method> kl <w>``."""

    records, missing = load_records(paths)
    if not records:
        raise ValueError(f"sweep-report: no finished trial under {', '.join(map(str, paths))}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if kind == "auto":
        kind = "claims" if all(r["group"] == f"{r['method']} kl {r['kl_weight']:g}" for r in records) else "summary"
    eio.atomic_write_text(out / "runs.jsonl", "".join(json.dumps(eio.to_jsonable(r)) + "\n" for r in records))
    summary: dict[str, Any] = {"kind": kind, "n_runs": len(records), "not_done": missing,
                               "trials": [r["trial_id"] for r in records]}
    if kind == "claims":

        kl = min(r["kl_weight"] for r in records)
        md, csv = cl.certificate_table(records)
        summary["claims"] = cl.evaluate_claims(records, cl.ClaimsConfig(), kl)
        files = {"certificate_table.md": md, "certificate_table.csv": csv}
        plot = lambda: cl.plots(records, out, kl)
    elif kind == "compare":

        name = ", ".join(dict.fromkeys(str(r.get("dataset", "")) for r in records))
        md, csv, rows = cp.compare_table(records, name)   # also sets each record's "display"
        files = {"compare_table.md": md, "compare_table.csv": csv,
                 "compare_table.json": json.dumps(eio.to_jsonable(rows), indent=2)}
        plot = lambda: cp.plots(records, out, name)
    elif kind == "summary":

        order = {g: i for i, g in enumerate(dict.fromkeys(r["group"] for r in records))}
        md, csv, _ = summary_table(records, ("group",), TABLE_COLUMNS, order=lambda k: order[k[0]], counts=TABLE_COUNTS)
        md += "\n" + certified_note(records) + "\n"
        files = {"sweep_table.md": md, "sweep_table.csv": csv}
        plot = lambda: _summary_plot(records, out, method_order)
    else:
        raise ValueError(f"--table must be auto, claims, compare or summary, got {kind!r}")
    for name, text in files.items():
        eio.atomic_write_text(out / name, text)
    summary["tables"] = [str(out / n) for n in files]
    try:
        summary["plots"] = [str(p) for p in plot()]
    except Exception as exc:  # a plotting failure must not hide the numbers; recorded, not dropped
        summary["plots_error"] = repr(exc)
    eio.atomic_write_json(out / "summary.json", summary)
    return summary


def _summary_plot(records, out: Path, method_order) -> list[Path]:

    groups = list(dict.fromkeys(r["group"] for r in records))
    return [figures.plot_margin_by_group(records, groups, str, out / "margin_by_group.png",
                                         title="Margin per group and seed", teacher_information=records[0]["I_T"])]
