"""The Hypothesis set-up of the proofs themselves (proofs/conftest.py)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from hypothesis.internal.conjecture.optimiser import Optimiser

from . import conftest


def test_target_phase_rounds_are_bounded():
    """conftest bounds the target phase's rounds (Hypothesis 6.170's optimise_targets could spin; see
    conftest): an Optimiser of a round past the 11th (max_improvements > 10 * 2**10) returns before
    any hill climbing, so its round makes no call; one of an earlier round climbs as before."""
    climbs = []
    opt = Optimiser.__new__(Optimiser)          # no engine: only run() is exercised
    opt.hill_climb = lambda: climbs.append(opt.max_improvements)
    opt.max_improvements = conftest._MAX_IMPROVEMENTS + 1
    Optimiser.run(opt)
    assert climbs == []
    opt.max_improvements = conftest._MAX_IMPROVEMENTS
    Optimiser.run(opt)
    assert climbs == [conftest._MAX_IMPROVEMENTS]


def _collected(tmp_path, order: dict | None, extra=()) -> list[str]:
    root = Path(__file__).resolve().parents[1]
    # neither variable may reach the inner session: with WITNESS_PROOFS_STATS it would merge (and
    # delete) the statistics an xdist worker of the outer session had already written (2026-12-08:
    # half of a thorough run's example counts lost that way)
    env = {k: v for k, v in os.environ.items() if k not in ("WITNESS_PROOFS_ORDER", "WITNESS_PROOFS_STATS")}
    if order is not None:
        path = tmp_path / "earlier.json"
        path.write_text(json.dumps(order))
        env["WITNESS_PROOFS_ORDER"] = str(path)
    out = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:randomly",
                          "-p", "no:cacheprovider", "proofs/test_t03_simplex_geometry.py",
                          "proofs/test_t04_closed_form_inverse.py", *extra],
                         cwd=root, env=env, capture_output=True, text=True)
    return [ln for ln in out.stdout.splitlines() if "::" in ln] or [out.stdout + out.stderr]


def test_longest_first_orders_by_the_recorded_seconds(tmp_path):
    """WITNESS_PROOFS_ORDER (bench/bench_proofs.py --longest-first) sorts the collected tests by an
    earlier run's seconds, largest first, the unrecorded ones after them in collection order; the
    set of tests is the same. A file that is not such a JSON is refused with its name."""
    plain = _collected(tmp_path, None)
    assert len(plain) >= 4 and plain[0].startswith("proofs/test_t03_")
    slow, slower = plain[-1], plain[-2]
    ordered = _collected(tmp_path, {"seconds_per_test": {slow: 9.5, slower: 20.0}})
    assert sorted(ordered) == sorted(plain)
    assert ordered[:2] == [slower, slow]
    assert ordered[2:] == [t for t in plain if t not in (slow, slower)]
    for bad in ({"wall_s": 1.0}, {"seconds_per_test": {slow: "slow"}}, [1, 2]):
        refused = _collected(tmp_path, bad)
        assert len(refused) == 1 and "WITNESS_PROOFS_ORDER" in refused[0] and "seconds_per_test" in refused[0]
