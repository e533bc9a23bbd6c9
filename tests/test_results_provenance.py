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
import os
import platform
import re
import subprocess
from pathlib import Path

import pytest

from empirical import io as eio
from empirical.configure import preset_info, provenance, provenance_problems, resolve

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


# ---------------------------------------------------------------------------------------
# Which commit and machine made a result, and the full-scale Fashion-MNIST results (issue 23)
# ---------------------------------------------------------------------------------------

def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, text=True, check=True).stdout.strip()


def _in_git_checkout() -> bool:
    try:
        return Path(_git(ROOT, "rev-parse", "--show-toplevel")).resolve() == ROOT
    except (OSError, subprocess.CalledProcessError):
        return False


def _cut_off_by_a_shallow_clone(sha: str) -> bool:
    """A shallow clone that lacks commit ``sha`` cannot tell whether it is reachable (only that one
    is named is then checked); a full clone that lacks it has no such commit: not reachable."""
    if _git(ROOT, "rev-parse", "--is-shallow-repository") != "true":
        return False
    return subprocess.run(["git", "-C", str(ROOT), "cat-file", "-e", f"{sha}^{{commit}}"],
                          capture_output=True).returncode != 0


def test_provenance_names_the_commit_and_the_machine():
    record = json.loads(json.dumps(provenance(resolve("digits", quick=True))))
    if _in_git_checkout():
        assert record["commit"] == _git(ROOT, "rev-parse", "HEAD") and isinstance(record["dirty"], bool)
    else:   # an installed copy: no commit to name
        assert record["commit"] is None and record["dirty"] is None
    assert record["machine"]["cores"] == os.cpu_count() and record["machine"]["arch"] == platform.machine()
    assert record["machine"]["cpu"]
    # taken once per process: the same answer, a fresh copy each time (a caller cannot change it)
    first = eio.code_commit()
    first["commit"] = "changed"
    assert eio.code_commit() == {"commit": record["commit"], "dirty": record["dirty"]}
    assert eio._own_commit.cache_info().currsize == 1


def test_code_commit_sees_changes_to_the_code_but_not_to_results(tmp_path):
    assert eio.code_commit(tmp_path) == {"commit": None, "dirty": None}        # not a checkout
    repo = tmp_path / "repo"
    (repo / "empirical").mkdir(parents=True)
    (repo / "results").mkdir()
    (repo / "empirical" / "x.py").write_text("a = 1\n")
    (repo / "results" / "table.md").write_text("old\n")
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "c")
    sha = _git(repo, "rev-parse", "HEAD")
    assert eio.code_commit(repo) == {"commit": sha, "dirty": False}
    (repo / "results" / "table.md").write_text("new\n")     # a run overwrites a committed table
    (repo / "results" / "new.md").write_text("new\n")
    assert eio.code_commit(repo) == {"commit": sha, "dirty": False}
    (repo / "empirical" / "x.py").write_text("a = 2\n")
    assert eio.code_commit(repo) == {"commit": sha, "dirty": True}
    assert eio.code_commit(repo / "empirical") == {"commit": None, "dirty": None}   # not the checkout's top


def test_recorded_line_says_when_which_commit_and_where():
    where = {"cpu": "Some CPU", "cores": 2, "arch": "x86_64"}
    line = eio.recorded_line({"commit": "0123456789abcdef" * 2 + "01234567", "dirty": False}, where)
    assert re.fullmatch(r"Recorded \d{4}-\d\d-\d\d \d\d:\d\d UTC at commit 0123456789ab, on Some CPU "
                        r"\(2 logical cores, x86_64\)\.", line), line
    dirty = eio.recorded_line({"commit": "ab" * 20, "dirty": True}, {**where, "gpu": "H100"})
    assert "at commit abababababab with uncommitted changes to the code" in dirty and "x86_64, GPU H100)" in dirty
    assert "outside a git checkout (commit unknown)" in eio.recorded_line({"commit": None, "dirty": None}, where)


FASHION = RESULTS / "fashion-mnist"
SEEDS_FULL = 5


def _argv_preset(argv: list[str]) -> str | None:
    for i, a in enumerate(argv):
        if a == "--preset" and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith("--preset="):
            return a.split("=", 1)[1]
    return None


def full_scale_problems(directory: Path) -> list[str]:
    """Why a Fashion-MNIST results directory is not a full-scale result of code on main: its README
    must name the commit it ran at (written by the commands, :func:`empirical.io.recorded_line`),
    that commit must be reachable from HEAD, its summary must have 5 seeds (where it trains
    models), no --quick, and the whole training split (``data.limit`` unset, or the named preset's)."""
    problems = []
    readme = directory / "README.md"
    text = readme.read_text() if readme.exists() else ""
    m = re.search(r"\bat commit ([0-9a-f]{7,40})\b", text)
    if not m:
        problems.append("its README names no commit")
    elif _in_git_checkout() and not _cut_off_by_a_shallow_clone(m.group(1)):
        try:
            _git(ROOT, "merge-base", "--is-ancestor", m.group(1), "HEAD")
        except subprocess.CalledProcessError:
            problems.append(f"commit {m.group(1)} is not reachable from HEAD")
    summary = next((json.loads(p.read_text()) for p in (directory / "summary.json", directory / "outcomes.json")
                    if p.exists()), {})
    seeds = summary.get("seeds")
    if seeds is not None and len(seeds) != SEEDS_FULL:
        problems.append(f"{len(seeds)} seeds, not {SEEDS_FULL}")
    record = summary.get("provenance") or {}
    if not record:
        problems.append("no provenance")
    else:
        if record["resolved_from"].get("quick"):
            problems.append("--quick")
        preset = _argv_preset(record.get("argv", []))
        allowed = {None}
        if preset:
            allowed.add(next((int(o.split("=", 1)[1]) for o in preset_info(preset)["overrides"]
                              if o.startswith("data.limit=")), None))
        if record["tree"]["data"].get("limit") not in allowed:
            problems.append(f"data.limit={record['tree']['data']['limit']} (a subset of the training split)")
    return problems


def fashion_results() -> list[Path]:
    return sorted({p.parent for p in result_files() if p.is_relative_to(FASHION)})


def test_fashion_mnist_results_are_full_scale_or_listed():
    """Issue 23: every Fashion-MNIST results directory names a commit reachable from main, 5 seeds
    and the full split, or is listed in results/stale.json's ``not_full_scale`` with the reason;
    the list is exactly the directories that fail, so it only shrinks as they are refreshed."""
    listed = json.loads(STALE.read_text())["not_full_scale"]
    bad = {str(d.relative_to(ROOT)): full_scale_problems(d) for d in fashion_results()}
    bad = {k: v for k, v in bad.items() if v}
    unlisted = {k: v for k, v in bad.items() if k not in listed}
    assert not unlisted, f"not full scale and not listed in results/stale.json: {json.dumps(unlisted, indent=1)}"
    fixed = sorted(set(listed) - set(bad))
    assert not fixed, f"these are full scale now: remove them from results/stale.json's not_full_scale: {fixed}"
    assert all(isinstance(v, str) and v for v in listed.values()), "each listed directory needs its reason"


def test_full_scale_check_catches_each_shortfall(tmp_path):
    base = resolve("fashion-mnist")
    record = json.loads(json.dumps(provenance(base)))
    (tmp_path / "README.md").write_text("# t\n\nRecorded 2026-12-07 00:00 UTC at commit "
                                        f"{record['commit'] or '0' * 12}, on a CPU.\n")
    (tmp_path / "summary.json").write_text(json.dumps({"seeds": [0, 1, 2, 3, 4], "provenance": record}))
    assert full_scale_problems(tmp_path) == []
    short = json.loads(json.dumps(record))
    short["tree"]["data"]["limit"] = 2000
    (tmp_path / "summary.json").write_text(json.dumps({"seeds": [0, 1], "provenance": short}))
    assert "2 seeds, not 5" in full_scale_problems(tmp_path)
    assert any("data.limit=2000" in p for p in full_scale_problems(tmp_path))
    short["argv"] = ["__main__.py", "compare", "--preset", "lidvae-fmnist"]
    short["tree"]["data"]["limit"] = 20000                                 # the preset's own subsample
    (tmp_path / "summary.json").write_text(json.dumps({"seeds": list(range(5)), "provenance": short}))
    assert not any("data.limit" in p for p in full_scale_problems(tmp_path))
    (tmp_path / "README.md").write_text("# t\n")
    assert "its README names no commit" in full_scale_problems(tmp_path)
    if _in_git_checkout():
        (tmp_path / "README.md").write_text("Recorded at commit 0123456789abcdef0123456789abcdef01234567.\n")
        assert any("not reachable from HEAD" in p for p in full_scale_problems(tmp_path))
