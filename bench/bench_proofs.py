"""Run ``pytest proofs`` under a Hypothesis profile and report wall time, examples and seconds
per test and the largest targeted residual/tolerance ratio per theorem.

    .venv/bin/python bench/bench_proofs.py [ci|dev|sample|thorough] [--workers N] [--out FILE]
        [--longest-first EARLIER.json] [-- extra pytest args]

The counts and residuals come from proofs/conftest.py, which writes them to the JSON file
named by WITNESS_PROOFS_STATS (one JSON per session, merged across pytest-xdist workers).
"Examples" counts executed examples (generated, explicit and replayed), per test; "seconds"
are setup + call + teardown of each test in its worker (a failure's shrinking included). A ratio
is residual / tolerance of the worst instance Hypothesis was steered to with ``target()``;
< 1 means the check held with that much headroom. Labels starting with "NEG" belong to the
negative controls, whose ratios must be > 1 (the wrong formula was caught by that factor).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from empirical.io import atomic_write_json  # noqa: E402


def theorem_of(name: str) -> str:
    if name.startswith("NEG") or "negative" in name:
        return "negative controls"
    m = re.search(r"\bT(\d+)\b", name) or re.search(r"test_t(\d+)_", name)
    if m:
        return f"T{int(m.group(1))}"
    return "extremes (mpmath)" if "mpmath" in name else "other"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("profile", nargs="?", default="ci", choices=["ci", "dev", "sample", "thorough"])
    ap.add_argument("--workers", type=int, default=0, help="pytest-xdist workers (0: no xdist)")
    ap.add_argument("--out", type=Path, default=None, help="also write the summary JSON here")
    ap.add_argument("--longest-first", type=Path, default=None, metavar="EARLIER_JSON",
                    help="run the tests longest first, by the seconds an earlier --out file recorded "
                         "(proofs/conftest.py: the xdist workers then finish together)")
    ap.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        stats_path = Path(tmp) / "stats.json"
        env = dict(os.environ, HYPOTHESIS_PROFILE=args.profile, WITNESS_PROOFS_STATS=str(stats_path))
        if args.longest_first is not None:
            if not args.longest_first.is_file():
                ap.error(f"--longest-first {args.longest_first}: no such file; pass a JSON written by --out")
            env["WITNESS_PROOFS_ORDER"] = str(args.longest_first.resolve())
        cmd = [sys.executable, "-m", "pytest", "proofs", "-q", "-p", "no:randomly", "-p", "no:cacheprovider"]
        if args.workers:
            cmd += ["-n", str(args.workers)]
            if args.longest_first is not None:
                # one test at a time to whichever worker is free: xdist's load scheduling otherwise
                # refills a worker with up to a quarter of the pending tests at once, which in this
                # order handed one worker a run of long tests while the other went idle (2026-12-08:
                # one worker idle for 14 of the first 38 minutes; the run was stopped)
                cmd += ["--maxschedchunk", "1"]
        cmd += args.pytest_args
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        tail = [ln for ln in proc.stdout.strip().splitlines() if ln.strip()][-1:]
        stats = json.loads(stats_path.read_text()) if stats_path.exists() else {"tests": {}, "targets": {}}

    print(f"profile {args.profile}: pytest proofs exit {proc.returncode}, wall time {wall:.1f} s")
    print("  " + (tail[0] if tail else "(no pytest summary)"))
    if proc.returncode != 0:
        print(proc.stdout[-4000:], proc.stderr[-2000:], sep="\n")

    per_theorem = defaultdict(int)
    print("\nexamples executed per test:")
    for test, rec in sorted(stats["tests"].items()):
        print(f"  {rec['calls']:7d}  {test}")
        per_theorem[theorem_of(test.split("::")[0].split("/")[-1] + " " + test.split("::")[-1])] += rec["calls"]
    seconds = stats.get("seconds", {})
    if seconds:
        print("\nthe 15 costliest tests (seconds: setup + call + teardown, in their worker):")
        for test, sec in sorted(seconds.items(), key=lambda kv: -kv[1])[:15]:
            print(f"  {sec:8.1f} s  {test}")
    print("\nexamples per theorem file:")
    for th, n in sorted(per_theorem.items()):
        print(f"  {th:22s} {n:8d}")

    worst = {}
    for rec in stats["targets"].values():   # JSON holds non-finite floats as "inf"/"nan" strings
        for key in ("ratio", "residual", "tolerance"):
            rec[key] = float(rec[key])
    # a "(gate: ...)" label is a precondition that decides whether an equality is asserted (an
    # optimiser's convergence), not a check: its ratio may exceed 1 and is listed on its own
    gates = {label: rec for label, rec in stats["targets"].items() if "(gate:" in label}
    for label, rec in stats["targets"].items():
        th = theorem_of(label)
        if label not in gates and (th not in worst or rec["ratio"] > worst[th][1]["ratio"]):
            worst[th] = (label, rec)
    print("\nlargest targeted residual / tolerance per theorem (< 1: holds with that headroom):")
    for th, (label, rec) in sorted(worst.items()):
        print(f"  {th:22s} ratio {rec['ratio']:.3g}  (residual {rec['residual']:.3g}, tolerance "
              f"{rec['tolerance']:.3g})  [{label}]")
    if gates:
        print("\ngates (preconditions, not checks; largest ratio seen):")
        for label, rec in sorted(gates.items()):
            print(f"  ratio {rec['ratio']:.3g}  [{label}]")
    summary = {"profile": args.profile, "returncode": proc.returncode, "wall_s": wall,
               "workers": args.workers,
               "order": f"longest first by {args.longest_first}" if args.longest_first else "collection order",
               "examples_per_test": {k: v["calls"] for k, v in stats["tests"].items()},
               "seconds_per_test": seconds,
               "examples_per_theorem": dict(per_theorem),
               "largest_ratio_per_theorem": {th: {"label": lab, **r} for th, (lab, r) in worst.items()},
               "gates": gates,
               "targets": stats["targets"]}
    if args.out:
        atomic_write_json(args.out, summary)
    return proc.returncode


if __name__ == "__main__":
    raise SystemExit(main())
