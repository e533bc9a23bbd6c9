"""The Hypothesis set-up of the proofs themselves (proofs/conftest.py)."""
from __future__ import annotations

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
