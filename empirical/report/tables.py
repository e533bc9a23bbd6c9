"""Tables (markdown, CSV, JSON) and results READMEs: the one place reports are written.

Experiments hand over rows (dicts) and get text back; nothing here computes a metric.
"""
from __future__ import annotations

import csv
import io
import shlex
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from empirical import io as eio
from witness_theory.information import DEFAULT_DELTA

__all__ = ["fmt", "csv_table", "markdown_table", "write_results_readme", "write_tables", "summary_table",
           "mean_sd"]


# The certified-information columns (T13) of every results table, written once: the lower
# confidence bounds in nats, the KL rate that bounds the posterior certificate from above, the
# certified active units, and the counts of seeds certified at 1 - delta.
CERTIFIED_COLUMNS = [("LCB raw", "lcb_raw", ".3f"), ("LCB fitted", "lcb_fitted", ".3f"),
                     ("LCB probe", "lcb_probe", ".3f"), ("LCB post. fitted", "lcb_post_fitted", ".3f"),
                     ("LCB post. probe", "lcb_post_probe", ".3f"), ("KL rate", "kl_rate", ".3f"),
                     ("cert. AU", "certified_au", ".1f")]
CERTIFIED_COUNTS = [("fitted cert.", "certified_fitted"), ("probe cert.", "certified_probe"),
                    ("post. fitted cert.", "certified_post_fitted"), ("post. probe cert.", "certified_post_probe"),
                    ("T13 viol.", "t13_violated")]


def certified_note(records: Sequence[dict]) -> str:
    """The sentence under every table on what "certified" means, at the records' ``delta`` (the
    package default for records written before the key existed)."""
    delta = float(records[0].get("delta") or DEFAULT_DELTA) if records else DEFAULT_DELTA
    level = f"{1 - delta:.0%}"
    return (f"Certified at {level} (T13, docs/theory.md): the distribution-free lower confidence bound LCB on "
            f"I(Y; Z) (Y ~ teacher(x), Z the code) exceeds 0, so with probability at least {level} over the draw of "
            f"the test rows the code carries at least LCB nats about the teacher; on codes that carry none, at most "
            f"{delta:.0%} of verdicts are 'certified' (results/null-calibration). LCB raw / fitted / probe: the fixed "
            f"witness, the fitted witness and the probe on the encoder means; post.: the same predictors on sampled "
            f"codes z ~ q(z|x) (what reaches the decoder), bounded above by the KL rate (T13 viol.: seeds whose "
            f"posterior LCB exceeds the rate's own {level} upper bound). cert. AU: units whose one-coordinate "
            f"posterior certificate has LCB > 0, family-wise error {delta:.0%} (Holm).")


def fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    return "" if v is None else str(v)


def csv_line(cells: Sequence[str]) -> str:
    """One CSV record (RFC 4180 quoting: a label such as "hct [reconstruction of HCT v1, not the
    authors' code]" holds a comma, and an unquoted one shifted every later field of its row)."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow(cells)
    return buf.getvalue()


def csv_table(rows: Sequence[dict], columns: Sequence[str]) -> str:
    lines = [csv_line(columns)]
    for r in rows:
        lines.append(csv_line([fmt(r.get(c)) for c in columns]))
    return "\n".join(lines) + "\n"


def markdown_table(rows: Sequence[dict], columns: Sequence[str]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for r in rows:
        lines.append("| " + " | ".join(fmt(r.get(c)) for c in columns) + " |")
    return "\n".join(lines) + "\n"


def write_tables(out_dir, stem: str, rows: Sequence[dict], columns: Sequence[str]) -> list[Path]:
    """``stem.md``, ``stem.csv`` and ``stem.json`` of the same rows, atomically."""
    out = Path(out_dir)
    return [eio.atomic_write_text(out / f"{stem}.md", markdown_table(rows, columns)),
            eio.atomic_write_text(out / f"{stem}.csv", csv_table(rows, columns)),
            eio.atomic_write_json(out / f"{stem}.json", list(rows))]


def mean_sd(values: Iterable[float]) -> tuple[float, float]:
    """Mean and sample sd (0 for a single value); NaN-free input expected."""
    v = np.asarray([float(x) for x in values], dtype=np.float64)
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0


def summary_table(records: Sequence[dict], group_keys: Sequence[str], columns: Sequence[tuple[str, str, str]],
                  *, order=None, counts: Sequence[tuple[str, str]] = ()) -> tuple[str, str, list[dict]]:
    """Markdown, CSV and JSON rows of ``records`` grouped by ``group_keys``: per group the
    certified count (and one more count per (label, boolean key) of ``counts``, e.g. the held-out
    certificates; "n/a" where a record lacks the key) and, per (label, key, format) column, mean ±
    sample sd over the group (min and max in the CSV/JSON). ``order`` sorts the groups (a key
    function of the group tuple)."""
    groups: dict[tuple, list[dict]] = {}
    for r in records:
        groups.setdefault(tuple(r[k] for k in group_keys), []).append(r)
    keys = sorted(groups, key=order) if order else list(groups)
    head = [*group_keys, "certified", *(label for label, _ in counts), *(c for c, _, _ in columns)]
    md = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    rows_csv = [csv_line([*group_keys, "n_seeds", "n_certified", *(f"n_{label}" for label, _ in counts)]
                    + [f"{c}_{s}" for c, _, _ in columns for s in ("mean", "sd", "min", "max")])]
    rows = []
    for key in keys:
        rs = groups[key]
        n_cert = sum(bool(r.get("certified")) for r in rs)
        cells = [fmt_key(k) for k in key] + [f"{n_cert}/{len(rs)}"]
        line = [fmt_key(k) for k in key] + [str(len(rs)), str(n_cert)]
        row = {**dict(zip(group_keys, key)), "n_seeds": len(rs), "n_certified": n_cert}
        for label, flag in counts:
            vals = [r.get(flag) for r in rs]
            n_true = None if any(v is None for v in vals) else sum(bool(v) for v in vals)
            cells.append("n/a" if n_true is None else f"{n_true}/{len(rs)}")
            line.append("" if n_true is None else str(n_true))
            row[f"n_{label}"] = n_true
        for label, metric, f in columns:
            vals = [r.get(metric) for r in rs]
            if any(v is None for v in vals):
                cells.append("n/a")
                line += ["", "", "", ""]
                continue
            m, sd = mean_sd(float(v) for v in vals if v is not None)
            cells.append(f"{m:{f}} ± {sd:{f}}")
            v = np.asarray(vals, dtype=np.float64)
            line += [f"{m:.6g}", f"{sd:.6g}", f"{v.min():.6g}", f"{v.max():.6g}"]
            row.update({f"{label}_mean": m, f"{label}_sd": sd, f"{label}_min": float(v.min()),
                        f"{label}_max": float(v.max())})
        md.append("| " + " | ".join(cells) + " |")
        rows_csv.append(csv_line(line))
        rows.append(row)
    return "\n".join(md) + "\n", "\n".join(rows_csv) + "\n", rows


def fmt_key(k) -> str:
    return f"{k:g}" if isinstance(k, float) else str(k)


def write_results_readme(out_dir, title: str, command_name: str, body: str,
                         records: Sequence[dict] | None = None) -> Path:
    """README.md of a results directory: what it holds, the exact command that produced it
    (``sys.argv`` when run as ``python -m empirical <command_name> ...``), when, at which git
    commit and on which machine (:func:`empirical.io.recorded_line`), and, given the sweep's
    ``records``, the commits their trials were trained at where that is not the same commit (a
    resumed sweep reuses trials trained earlier). A hand-written ``NOTES.md`` in the directory (never
    written by a command) is linked."""
    out = Path(out_dir)
    if sys.argv[1:2] == [command_name]:
        command = "python -m empirical " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    else:
        command = f"(empirical.cli.main called from Python; {command_name} config in the JSON files)"
    trained = "" if records is None else trials_line(records, eio.code_commit())
    notes = ("Discussion of these numbers, written by hand: [NOTES.md](NOTES.md).\n\n"
             if (out / "NOTES.md").is_file() else "")
    text = (f"# {title}\n\nProduced by (from the repository root):\n\n    {command}\n\n{eio.recorded_line()}"
            f"{trained}\n\n{notes}{body.rstrip()}\n")
    return eio.atomic_write_text(out / "README.md", text)


def trials_line(records: Sequence[dict], current: dict) -> str:
    """The sentence naming the commits a sweep's trials were trained at (each record's ``commit`` and
    ``commit_dirty``, written by the sweep since 2026-12-07), when some is not ``current``'s clean
    commit (:func:`empirical.io.code_commit`); "" when every trial was trained at it."""
    def name(r: dict) -> str:
        if "commit" not in r:
            return "a commit their records do not name (trained before records named it)"
        sha = r["commit"]
        return "outside a git checkout" if sha is None else eio.commit_phrase(sha, r.get("commit_dirty"))
    here = name({"commit": current.get("commit"), "commit_dirty": current.get("dirty")})
    counts = Counter(name(r) for r in records)
    if set(counts) <= {here} and current.get("commit") and not current.get("dirty"):
        return ""
    return " The trials were trained at " + "; ".join(f"{n} ({k} of {len(records)})" for n, k in counts.items()) + "."


def write_experiment_summary(out_dir, summary: dict, records: Sequence[dict], plot) -> dict:
    """Complete and write ``summary.json`` of a grid experiment: every run's bound violations
    (with the run's group and seed), library versions, and the plots ``plot()`` draws (a plotting
    failure is recorded in ``plots_error``, never allowed to hide the numbers)."""
    summary["bound_violations"] = [dict(v, group=r.get("group"), method=r.get("method"), kl_weight=r.get("kl_weight"),
                                        seed=r.get("seed")) for r in records for v in r.get("bound_violations", [])]
    summary["versions"] = eio.library_versions()
    try:
        summary["plots"] = [str(p) for p in plot()]
    except Exception as exc:  # noqa: BLE001 -- recorded in the summary, not dropped
        summary["plots_error"] = repr(exc)
    eio.atomic_write_json(Path(out_dir) / "summary.json", summary)
    return summary
