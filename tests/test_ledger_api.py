"""The ledger's objects: relations, check results, theorem lookup, assertion helper."""
import numpy as np
import pytest

import witness_theory as wt
from witness_theory.theorems import DEFAULT_RTOL, LEDGER, TheoremViolation, assert_holds, get, relation


def test_ledger_has_t1_to_t12_and_t2h_with_statements_and_conditions():
    ids = [t.id for t in LEDGER]
    assert ids == [f"T{i}" for i in range(1, 13)] + ["T2H", "T13"]
    for t in LEDGER:
        assert t.statement and t.title and t.conditions
    assert get("t6") is wt.T6 and get("t2h") is wt.T2H
    with pytest.raises(ValueError, match="unknown theorem"):
        get("T14")


@pytest.mark.parametrize("lhs,rel,rhs,holds", [
    (1.0, "==", 1.0 + 1e-12, True),
    (1.0, "==", 1.0 + 1e-6, False),
    (1.0, "<=", 0.5, False),
    (0.5, "<=", 1.0, True),
    (2.0, ">=", 1.0, True),
    (np.inf, "==", np.inf, True),          # KL = inf on both sides is an identity in the extended reals
    (np.inf, "==", 0.5, False),            # an infinite side never holds against a finite one ...
    (np.inf, "<=", 0.5, False),            # ... however large the tolerance would have been
    (0.5, "<=", np.inf, True),
    (np.nan, "==", np.nan, False),         # NaN never holds
    (np.nan, "<=", 1.0, False),
    (0.0, ">", 0.0, False),                # strict relations have no tolerance
    (1e-300, ">", 0.0, True),
])
def test_relation_semantics(lhs, rel, rhs, holds):
    r = relation("x", lhs, rel, rhs)
    assert r.holds is holds
    assert np.isfinite(r.tolerance)


def test_tolerance_is_relative_and_stated():
    r = relation("x", 1e6, "==", 1e6)
    assert r.tolerance == pytest.approx(DEFAULT_RTOL * (1 + 2e6))


def test_check_result_reports_worst_part_and_assert_holds_raises_with_numbers():
    T = np.random.default_rng(0).dirichlet(np.ones(4), 20)
    W = wt.Witness(4, 5, 2.0)
    good = wt.T8.check(T, wt.exact_embedding(T, W), W)
    assert good.holds and assert_holds(good) is good
    assert set(good.as_dict()) >= {"theorem", "holds", "lhs", "rhs", "residual", "tolerance", "parts"}
    # a wrong claim: constant codes claimed to beat I_T (T2 with L_TS lowered by hand)
    bad = wt.CheckResult("T2", (relation("L_TS >= I_T", 0.1, ">=", 0.5), relation("ok", 1, "==", 1)))
    assert not bad.holds and bad.worst.name == "L_TS >= I_T" and bad.residual == pytest.approx(0.4)
    with pytest.raises(TheoremViolation, match="L_TS >= I_T: 0.1 >= 0.5"):
        assert_holds(bad)
