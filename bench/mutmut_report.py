"""Summarise a mutmut run of witness_theory/ (issue 25): the score per module and every mutant
that no proof kills, each with its one-line diff and a first, mechanical sort.

Reads mutmut's own records (``mutants/witness_theory/<module>.py.meta``, written by ``mutmut
run``; docs/mutation.md) and its diffs (``mutmut.mutation.diff_apply.get_diff_for_mutant``), so
it needs the ``mutants/`` directory of a run in the repository root. The sort is by the changed
line only; "code" mutants need a reader (results/proofs/mutation.md says what was read):

- ``string``: the two lines differ only inside string literals (messages, labels);
- ``message-arg``: a string argument (an argument name for an error message) set to None or
  dropped;
- ``errstate``: an ``np.errstate(...)`` argument (which warnings are silenced);
- ``validation``: a line that validates input or raises (``check_*``, ``raise``, ``isinstance``,
  an argument ``name=``): what an error says or accepts, outside the theorems' formulas;
- ``code``: anything else.

    .venv/bin/python bench/mutmut_report.py core frontier --tsv results/proofs/mutmut-survivors.tsv
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# a changed line that validates input or builds an error: outside the theorems' formulas
VALIDATION = re.compile(r"\bcheck_\w*\(|\b_check\w*\(|\braise\b|Error\b|isinstance\(|raise_too_large|\bname=")
STRING = re.compile(r"""[rbfu]{0,2}("([^"\\]|\\.)*"|'([^'\\]|\\.)*')""")


def changed_lines(diff: str) -> tuple[str, str]:
    """The first removed and the first added line of a unified diff (without the +/- marks)."""
    old = next((ln[1:] for ln in diff.splitlines() if ln.startswith("-") and not ln.startswith("---")), "")
    new = next((ln[1:] for ln in diff.splitlines() if ln.startswith("+") and not ln.startswith("+++")), "")
    return old, new


def kind(old: str, new: str) -> str:
    if "errstate" in old:
        return "errstate"
    o, n = STRING.sub("S", old), STRING.sub("S", new)
    if o == n:
        return "string"

    def bare(s: str) -> str:   # a string argument replaced by None, or dropped from a call
        return re.sub(r"\s+", "", s.replace("None", "S")).replace("S,", "").replace(",S", "").replace("(S)", "()")
    if "S" in o and bare(o) == bare(n):
        return "message-arg"
    if VALIDATION.search(old):
        return "validation"
    return "code"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("modules", nargs="+", help="module names under witness_theory/, e.g. core frontier")
    ap.add_argument("--tsv", help="write every mutant that is not killed here (mutant, status, kind, diff)")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    import os

    os.chdir(ROOT)   # mutmut reads mutants/ relative to the working directory
    from mutmut.mutation.diff_apply import get_diff_for_mutant
    from mutmut.stats import status_by_exit_code

    rows = []
    print("| module | mutants | killed | survived | no test reaches it | timeout | not run | score (killed / run) |")
    print("|---|---|---|---|---|---|---|---|")
    for module in args.modules:
        meta = ROOT / "mutants" / "witness_theory" / f"{module}.py.meta"
        if not meta.exists():
            raise SystemExit(f"{meta} does not exist: run `mutmut run \"witness_theory.{module}.*\"` first")
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        status = {k: status_by_exit_code[v] for k, v in codes.items()}
        c = Counter(status.values())
        run = len(codes) - c["not checked"]
        print(f"| {module}.py | {len(codes)} | {c['killed']} | {c['survived']} | {c['no tests']} | {c['timeout']} | "
              f"{c['not checked']} | {c['killed'] / run:.1%} |" if run else f"| {module}.py | {len(codes)} | not run |")
        for name, st in sorted(status.items()):
            if st in ("killed", "not checked"):
                continue
            old, new = changed_lines(get_diff_for_mutant(name, path=Path("witness_theory") / f"{module}.py"))
            rows.append((name, st, kind(old, new), f"-{old.strip()} | +{new.strip()}"))
    by_kind = Counter((r[1], r[2]) for r in rows)
    print("\nnot killed, by status and kind:")
    for (st, k), n in sorted(by_kind.items()):
        print(f"  {st:<10} {k:<12} {n}")
    if args.tsv:
        lines = ["mutant\tstatus\tkind\tdiff (original line | mutated line)"]
        lines += ["\t".join(r) for r in rows]
        tmp = Path(args.tsv).with_suffix(".tmp")
        tmp.write_text("\n".join(lines) + "\n")
        tmp.replace(args.tsv)
        print(f"wrote {args.tsv} ({len(rows)} rows)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
