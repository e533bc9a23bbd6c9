"""``python -m empirical compare``: every method of the registry judged by the certificate (C4),
and the rival methods' own claims (``--set compare.grid=c5`` LR-VAE, ``compare.grid=c6`` HCT)."""
from __future__ import annotations

from empirical.commands.common import (
    add_common_arguments,
    add_executor_arguments,
    executor_from_args,
    experiment_config,
    output_dirs,
    seeds_or_default,
)
from empirical.config import SEEDS

HELP = "C4-C6: every method (vanilla, remedies, rivals, witness methods) under the certificate, one table"


def add_arguments(p) -> None:
    add_common_arguments(p, seeds=SEEDS, section="compare")
    add_executor_arguments(p)


def run(args) -> int:
    import json
    import sys

    from empirical import io as eio
    from empirical.configure import preset_info
    from empirical.experiments.compare import CompareConfig, run_compare
    from empirical.io import to_jsonable
    from empirical.report.tables import write_results_readme
    from empirical.sweep import SweepError

    base, cfg = experiment_config(args, section="compare", section_config=CompareConfig())
    sub = "compare" if cfg.grid == "c4" or cfg.entries else f"compare-{cfg.grid}"
    out, runs = output_dirs(args, sub, results_sub=sub)
    try:
        summary = run_compare(base, cfg, seeds=seeds_or_default(args, SEEDS, quick_default=1), out_dir=out, runs_dir=runs,
                              fresh=args.fresh, progress=args.progress, executor=executor_from_args(args),
                              retry_failed=args.retry_failed)
    except SweepError as exc:   # some trials failed: listed, the others kept
        print(f"error: {exc}", file=sys.stderr)
        return 1
    table = (out / "compare_table.md").read_text()
    verdicts = "\n".join(f"- **{k}** {'holds' if c['holds'] else 'DOES NOT HOLD'}: {c['statement']}"
                         for k, c in summary["claims"].items())
    setting = "".join(f"Setting: the preset `{name}` (`python -m empirical presets {name}` prints each number's "
                      f"source): {preset_info(name)['summary']}.\n\n" for name in [args.preset] if name)
    published = "".join(f"### {k} beside the published numbers\n\n{c['beside_published']}\n"
                        for k, c in summary["claims"].items() if c.get("beside_published"))
    write_results_readme(out, f"Methods under the certificate ({cfg.grid}): {base.data.name}", "compare",
                         f"{setting}{published}{verdicts}\n\nFiles: `compare_table.{{md,csv,json}}`, "
                         "`runs.jsonl` (one line per run), "
                         f"`summary.json` (claims with per-seed evidence), `margin_by_method.png`, `au_vs_margin.png`."
                         f"\n\nWall time {summary['wall_seconds']:.0f} s for {summary['n_runs']} runs.\n\n{table}",
                         records=eio.read_jsonl(out / "runs.jsonl", "compare runs"))
    print(table)
    for name, c in summary["claims"].items():
        print(f"{name}: {'HOLDS' if c['holds'] else 'DOES NOT HOLD'} -- {c['statement']}")
        print(f"    {json.dumps(to_jsonable(c['evidence']))[:2000]}")
    print(f"wall time {summary['wall_seconds']:.1f}s for {summary['n_runs']} runs; results in {out}")
    return 0
