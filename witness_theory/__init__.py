"""witness-theory: the simplex witness certificate for exact constant collapse in VAEs.

The exact float64 functions live in :mod:`witness_theory.core` (re-exported here); the
theorems T1..T12 of ``docs/theory.md`` (the package's own theory document) are executable
checks in :mod:`witness_theory.theorems` (``LEDGER``, ``T1`` ... ``T12``, ``check_all``).
T11's frontier is in :mod:`witness_theory.frontier`, T12's linear VAE in
:mod:`witness_theory.linear_vae`, MI and active-unit references in
:mod:`witness_theory.collapse_metrics`.
"""
from .core import *  # noqa: F401,F403
from .core import __all__ as _core_all
from .heldout import *  # noqa: F401,F403  held-out certificates and T2H
from .heldout import __all__ as _heldout_all
from .information import *  # noqa: F401,F403  certified information (T13): bounds, p-values, verdicts
from .information import __all__ as _information_all
from .io import load_array  # noqa: F401
from .theorems import (  # noqa: F401
    LEDGER,
    T1,
    T2,
    T3,
    T4,
    T5,
    T6,
    T7,
    T8,
    T9,
    T10,
    T11,
    T12,
    CheckResult,
    Relation,
    Theorem,
    TheoremViolation,
    assert_holds,
    check_all,
)

__version__ = "0.1.0"
__all__ = list(_core_all) + [
    "LEDGER", "T1", "T2", "T3", "T4", "T5", "T6", "T7", "T8", "T9", "T10", "T11", "T12",
    "CheckResult", "Relation", "Theorem", "TheoremViolation", "assert_holds", "check_all",
    "load_array",
] + list(_heldout_all) + list(_information_all)
