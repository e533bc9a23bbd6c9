"""Issue 24's fuzz re-count: run the package's own fuzz and bad-input tests under a Hypothesis
profile and count what they tried and what they found.

    .venv/bin/python bench/fuzz_recount.py [ci|dev|thorough] [--workers N] [--out FILE]

Each fuzz test's oracle fails the test on any of the three findings the issue counts:

- a *foreign exception*: anything but a ValueError/TypeError whose one-line message names an
  argument (the API fuzz), or a traceback / exit status other than 2 (the command lines);
- a *silent wrong result*: invalid input accepted, or NaN anywhere in a result (arrays, tuples,
  dicts, dataclasses, fitted estimators), or a verdict from refused extremes;
- a *hang*: a command or reader still running after its timeout (named pipes among the inputs).

So the counts are read from pytest: a test that failed is listed with the first line of its
assertion, classified by that line. Inputs tried are Hypothesis' passing and failing test cases
per test (``--hypothesis-show-statistics``) plus one per parametrised fixed case. Prints a
table and, with ``--out``, writes it as JSON. Asserts nothing: it is a measurement.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from empirical.io import atomic_write_json  # noqa: E402

# the fuzz and bad-input tests, by the class of issue 24 they cover
FILES = {
    "tests/test_fuzz_witness_theory.py": "API fuzz (every public function), witness_theory CLI files and options, FIFOs",
    "tests/test_fuzz_modules.py": "API fuzz of frontier, collapse_metrics, linear_vae",
    "tests/test_bad_input.py": "bad arguments with the expected one-line message",
    "tests/test_bad_input_files.py": "empirical CLI: pipes, directories, zero-byte/random/renamed checkpoints, codes and "
                                     "teacher files, --out, the package's own JSON files, --config",
    "tests/test_information_inputs.py": "T13 functions: bad arguments",
    "tests/test_integrity.py": "tampered teacher, codes and checkpoint files; crafted checkpoints",
    "tests/test_teacher_object.py": "Teacher objects accepted everywhere a teacher is",
    "tests/test_config_inputs.py": "config values: choices, ranges, types",
    "tests/test_sweep_reliability.py": "killed worker, killed driver, failing squeue (real one-node SLURM)",
}
STAT_TEST = re.compile(r"^(tests/\S+::\S+):\s*$")
STAT_COUNT = re.compile(r"- (\d+) passing, (\d+) failing, and (\d+) invalid test cases")


def classify(message: str) -> str:
    m = message.lower()
    if "hung" in m or "timeout" in m or "timed out" in m or "blocked" in m:
        return "hang"
    if "returned nan" in m or "accepted invalid input" in m or "silent" in m:
        return "silent wrong result"
    return "foreign exception or wrong message"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("profile", nargs="?", default="ci", choices=["ci", "dev", "thorough"])
    ap.add_argument("--workers", type=int, default=2, help="pytest-xdist workers (0: no xdist)")
    ap.add_argument("--out", type=Path, default=None, help="also write the counts as JSON here")
    args = ap.parse_args(argv)

    junit = ROOT / "runs" / "bench" / "fuzz-recount.xml"
    junit.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pytest", *FILES, "-q", "-p", "no:cacheprovider", "--hypothesis-show-statistics",
           f"--junitxml={junit}"] + (["-n", str(args.workers)] if args.workers else [])
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=dict(os.environ, HYPOTHESIS_PROFILE=args.profile),
                          capture_output=True, text=True)
    wall = time.perf_counter() - t0

    generated: dict[str, int] = {}
    current = None
    for line in proc.stdout.splitlines():
        if (m := STAT_TEST.match(line.strip())):
            current = m.group(1)
        elif current and (m := STAT_COUNT.search(line)):
            generated[current] = generated.get(current, 0) + int(m.group(1)) + int(m.group(2))
    per_file: dict[str, dict] = defaultdict(lambda: {"tests": 0, "inputs": 0, "failed": 0, "skipped": 0})
    findings = []
    for case in ET.parse(junit).getroot().iter("testcase"):
        f = case.get("classname", "").replace(".", "/") + ".py"
        name = f"{f}::{case.get('name')}"
        rec = per_file[f]
        rec["tests"] += 1
        rec["inputs"] += generated.get(name, 1)    # a fixed case is one input
        failure = case.find("failure")
        if failure is None:
            failure = case.find("error")
        if case.find("skipped") is not None:
            rec["skipped"] += 1
        elif failure is not None:
            rec["failed"] += 1
            first = (failure.get("message") or "").strip().splitlines()[:1]
            findings.append({"test": name, "class": classify(first[0] if first else ""),
                             "message": first[0][:300] if first else ""})

    counts = {k: sum(1 for x in findings if x["class"] == k)
              for k in ("foreign exception or wrong message", "silent wrong result", "hang")}
    print(f"profile {args.profile}: exit {proc.returncode}, wall {wall:.0f} s; "
          + (proc.stdout.strip().splitlines() or ["(no pytest output)"])[-1])
    print(f"{'file':40s} {'tests':>6s} {'inputs':>8s} {'failed':>6s}  covers")
    for f, what in FILES.items():
        r = per_file.get(f, {"tests": 0, "inputs": 0, "failed": 0})
        print(f"{f:40s} {r['tests']:6d} {r['inputs']:8d} {r['failed']:6d}  {what}")
    total = sum(r["inputs"] for r in per_file.values())
    print(f"inputs tried: {total}; findings: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
    for x in findings:
        print(f"  [{x['class']}] {x['test']}: {x['message']}")
    if args.out:
        atomic_write_json(args.out, {"profile": args.profile, "returncode": proc.returncode, "wall_s": wall,
                                     "command": " ".join(["bench/fuzz_recount.py", args.profile,
                                                          f"--workers {args.workers}"]),
                                     "files": {f: {"covers": what, **per_file.get(f, {})} for f, what in FILES.items()},
                                     "inputs_tried": total, "findings": counts, "failures": findings})
    return proc.returncode


if __name__ == "__main__":
    raise SystemExit(main())
