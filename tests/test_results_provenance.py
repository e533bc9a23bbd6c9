"""Every committed results table can be reproduced by today's code, or is listed as stale.

Each ``summary.json`` (``outcomes.json`` for rescue) records a ``provenance``: the package version,
the command line, the resolved config tree and how it was resolved (``empirical.configure.
provenance``). Here today's code rebuilds the tree from those inputs and compares
(``provenance_problems``): a key that no longer exists, or one whose value today's code resolves
differently (a default moved), names the table. Tables written before provenance was recorded, or
older than the code, are listed in ``results/stale.json`` with the reason and what refreshes them;
the list must be exactly the tables that fail, so it can only shrink as tables are refreshed, and a
new table must pass.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from empirical.configure import provenance, provenance_problems, resolve

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results"
STALE = RESULTS / "stale.json"


def result_files() -> list[Path]:
    return sorted([*RESULTS.rglob("summary.json"), *RESULTS.rglob("outcomes.json")])


def failing() -> dict[str, list[str]]:
    out = {}
    for path in result_files():
        problems = provenance_problems(json.loads(path.read_text()).get("provenance"))
        if problems:
            out[str(path.relative_to(ROOT))] = problems
    return out


def test_stale_list_is_exactly_the_tables_that_fail():
    stale = json.loads(STALE.read_text())["tables"]
    bad = failing()
    unlisted = {k: v for k, v in bad.items() if k not in stale}
    assert not unlisted, "results that today's code cannot reproduce (refresh them, or list them in results/stale.json " \
                         f"with the reason): {json.dumps(unlisted, indent=1)}"
    fixed = sorted(set(stale) - set(bad))
    assert not fixed, f"these now pass: remove them from results/stale.json: {fixed}"
    assert all(isinstance(v, str) and v for v in stale.values()), "each stale table needs its reason"


def test_a_recorded_tree_reproduces_and_a_moved_default_is_named():
    base = resolve("digits", "rst", quick=True, overrides=["train.epochs=3", "method.alpha=0.5"])
    record = json.loads(json.dumps(provenance(base)))          # as written to and read from a file
    assert provenance_problems(record) == []
    moved = json.loads(json.dumps(record))
    moved["tree"]["train"]["lr"] = 0.5                          # as if train.lr's default had been 0.5 then
    assert provenance_problems(moved) == ["train.lr: recorded 0.5, today's code resolves 0.003 (a default moved)"]
    gone = json.loads(json.dumps(record))
    gone["tree"]["train"]["momentum"] = 0.9                     # a key the code no longer has
    assert "does not load with today's code" in provenance_problems(gone)[0]
    assert provenance_problems(None) and provenance_problems({"tree": {}})


def test_placement_keys_are_not_compared():
    record = json.loads(json.dumps(provenance(resolve("digits", overrides=["train.device=cpu"]))))
    record["tree"]["teacher"]["cache"] = "/elsewhere"
    record["tree"]["out_dir"] = "/elsewhere/run"
    assert provenance_problems(record) == []


@pytest.mark.parametrize("path", result_files(), ids=lambda p: str(p.relative_to(RESULTS)))
def test_results_record_their_versions(path):
    assert "versions" in json.loads(path.read_text())
