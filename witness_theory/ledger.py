"""The check machinery of the theorem ledger: :class:`Relation`, :class:`CheckResult`,
:class:`Theorem` and the tolerance rule. The theorem modules (``theorems``, ``heldout``,
``information``) build their theorems from these; ``theorems`` assembles ``LEDGER``.

Residuals: |lhs - rhs| for "==", max(0, lhs - rhs) for "<=", max(0, rhs - lhs) for ">=".
Tolerance: ``rtol * (1 + |lhs| + |rhs| + magnitude)`` with ``rtol = 1e-9`` by default.
Why 1e-9: every quantity is a float64 sum of at most ~1e5 terms whose rounding error is a
few hundred unit roundoffs (~1e-13 relative) even for log-odds of several hundred; 1e-9 keeps
~1e4 headroom for that, while any wrong constant or formula (a missing (K-1)/K, CE for KL,
a wrong reference distribution) gives relative errors of order 1e-3 or more and is caught.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

__all__ = ["DEFAULT_RTOL", "Relation", "relation", "CheckResult", "TheoremViolation", "assert_holds", "Theorem"]

DEFAULT_RTOL = 1e-9


@dataclass(frozen=True)
class Relation:
    """One relation lhs (==, <=, >=) rhs evaluated on an instance."""
    name: str
    lhs: float
    relation: str
    rhs: float
    residual: float
    tolerance: float

    @property
    def holds(self) -> bool:
        return bool(self.residual <= self.tolerance)


def relation(name: str, lhs, rel: str, rhs, rtol: float = DEFAULT_RTOL, magnitude: float = 0.0,
             atol: float = 0.0) -> Relation:
    lhs, rhs = float(lhs), float(rhs)
    # Comparisons first, so that equal infinities (KL = inf on both sides) hold and an
    # infinite side against a finite one gives an infinite residual; NaN never holds.
    if rel == "==":
        res = 0.0 if lhs == rhs else abs(lhs - rhs)
    elif rel == "<=":
        res = 0.0 if lhs <= rhs else lhs - rhs
    elif rel == ">=":
        res = 0.0 if lhs >= rhs else rhs - lhs
    elif rel == "<":   # strict: holds iff lhs < rhs (no tolerance in the strict direction)
        res = 0.0 if lhs < rhs else lhs - rhs + np.finfo(float).tiny
    elif rel == ">":
        res = 0.0 if lhs > rhs else rhs - lhs + np.finfo(float).tiny
    else:
        raise ValueError(f"unknown relation {rel!r}")
    if np.isnan(res):
        res = np.inf
    finite = lambda x: abs(x) if np.isfinite(x) else 0.0  # noqa: E731  (an infinite side must not widen the tolerance)
    tol = 0.0 if rel in ("<", ">") else rtol * (1.0 + finite(lhs) + finite(rhs) + finite(magnitude)) + atol
    return Relation(name, lhs, rel, rhs, float(res), float(tol))


@dataclass(frozen=True)
class CheckResult:
    """All relations of one theorem on one instance. ``lhs``/``rhs``/``residual``/``tolerance``
    are those of the worst relation (largest residual / tolerance)."""
    theorem: str
    parts: tuple[Relation, ...]

    @property
    def holds(self) -> bool:
        return all(p.holds for p in self.parts)

    @property
    def worst(self) -> Relation:
        def ratio(p):
            if p.tolerance > 0:
                return p.residual / p.tolerance
            return np.inf if p.residual > 0 else 0.0
        return max(self.parts, key=ratio)

    lhs = property(lambda self: self.worst.lhs)
    rhs = property(lambda self: self.worst.rhs)
    residual = property(lambda self: self.worst.residual)
    tolerance = property(lambda self: self.worst.tolerance)

    @property
    def max_residual(self) -> float:
        return max(p.residual for p in self.parts)

    def failures(self) -> list[Relation]:
        return [p for p in self.parts if not p.holds]

    def __str__(self) -> str:
        lines = [f"{self.theorem}: {'holds' if self.holds else 'VIOLATED'}"]
        for p in self.parts:
            lines.append(f"  [{'ok' if p.holds else 'FAIL'}] {p.name}: {p.lhs:.12g} {p.relation} {p.rhs:.12g} "
                         f"(residual {p.residual:.3g}, tolerance {p.tolerance:.3g})")
        return "\n".join(lines)

    def as_dict(self) -> dict:
        return {"theorem": self.theorem, "holds": self.holds, "lhs": self.lhs, "rhs": self.rhs,
                "residual": self.residual, "tolerance": self.tolerance,
                "parts": [dict(name=p.name, lhs=p.lhs, relation=p.relation, rhs=p.rhs, residual=p.residual,
                               tolerance=p.tolerance, holds=p.holds) for p in self.parts]}


class TheoremViolation(AssertionError):
    """Raised by :meth:`CheckResult`-based assertions when a bound fails (with the numbers)."""


def assert_holds(result: CheckResult) -> CheckResult:
    """``result`` back if it holds, else :class:`TheoremViolation` with the numbers."""
    if not isinstance(result, CheckResult):
        raise TypeError(f"result must be a CheckResult (what Theorem.check returns), got {type(result).__name__}")
    if not result.holds:
        raise TheoremViolation(str(result))
    return result


@dataclass(frozen=True)
class Theorem:
    id: str
    title: str
    statement: str
    conditions: tuple[str, ...]
    _check: Callable[..., tuple[Relation, ...]] = field(repr=False)

    def check(self, *args, **kwargs) -> CheckResult:
        return CheckResult(self.id, tuple(self._check(*args, **kwargs)))

    def __str__(self) -> str:
        return f"{self.id} {self.title}: {self.statement}"
