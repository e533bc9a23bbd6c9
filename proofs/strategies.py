"""Composite Hypothesis strategies for witness-theory instances, and the ledger helpers.

An *instance* is a weighted teacher T (N, K), weights w (N,) and a fixed witness
(K, d >= K-1, orthonormal frame P, scale beta). Every instance is rebuilt deterministically
from an :class:`InstanceSpec` (the few numbers Hypothesis draws); its repr is the call that
rebuilds it, so a failing example can be frozen as ``@example(inst=build_instance(InstanceSpec(...)))``.

Sizes reach K = 64, N = 128 while each example stays cheap: the big arrays come from a
NumPy Generator seeded by Hypothesis (drawing 8192 floats element by element would be the
slow part); small instances (N K <= 48) draw their log-weights element by element with
``hypothesis.extra.numpy`` so shrinking acts on the entries themselves.

Rows are normalised exponentials of log-weights divided by a temperature in [1e-3, 1e2]:
temperature 1e-3 turns Gaussian log-weights into log-odds of ~1e3, so exp underflows and
rows become exactly one-hot; temperature 1e2 gives near-uniform rows. Full-support rows get
a floor (1e-12 by default, the "near-degenerate" regime) and are renormalised. Where a
theorem allows zeros (T1, T2, T8, T9), a fraction of rows is replaced by exact one-hot rows.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np
from hypothesis import strategies as st
from hypothesis import target
from hypothesis.errors import InvalidArgument
from hypothesis.extra import numpy as hnp
from scipy.special import log_softmax

from witness_theory import Witness

MAX_K = 64
MAX_N = 128
BETA_MIN, BETA_MAX = 0.05, 20.0
FLOORS = (1e-12, 1e-9, 1e-6, 1e-3)          # full-support floors: near-degenerate .. mild


# ---------------------------------------------------------------------------------------
# Instances
# ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class InstanceSpec:
    """Everything needed to rebuild one instance (all plain numbers, so the repr is code)."""
    seed: int
    N: int
    K: int
    extra_d: int = 0                       # d = K - 1 + extra_d
    beta: float = 1.0
    row_kind: str = "softmax"             # softmax | uniform | near_uniform | near_degenerate
    temperature: float = 1.0
    floor: float = 0.0                     # > 0: entries floored at this value, then renormalised
    one_hot_fraction: float = 0.0          # fraction of rows replaced by exact one-hot rows
    weight_kind: str = "dirichlet"        # uniform | none | dirichlet | spiky | some_zero
    frame_kind: str = "random"            # random (QR of a Gaussian) | default (first K-1 coords)
    logits: tuple | None = None            # hypothesis-drawn log-weights for small instances
    full_marginal: bool = False            # force Tbar > 0 (T6 best-constant parts)


@dataclass(frozen=True, repr=False)
class Instance:
    spec: InstanceSpec
    T: np.ndarray = field(compare=False)
    w: np.ndarray | None = field(compare=False)     # None = the package default (uniform)
    witness: Witness = field(compare=False)

    K = property(lambda self: self.spec.K)
    N = property(lambda self: self.spec.N)
    d = property(lambda self: self.witness.d)
    beta = property(lambda self: self.witness.scale)

    @property
    def weights(self) -> np.ndarray:
        """Normalised weights as an array (uniform when ``w`` is None)."""
        if self.w is None:
            return np.full(self.N, 1.0 / self.N)
        return self.w / self.w.sum()

    @property
    def tbar(self) -> np.ndarray:
        return self.weights @ self.T

    def __repr__(self) -> str:
        return f"build_instance({self.spec!r})"


def orthonormal_frame(rng: np.random.Generator, d: int, k1: int) -> np.ndarray:
    """Random (d, k1) frame with orthonormal columns: QR of a Gaussian matrix, signs fixed."""
    Q, R = np.linalg.qr(rng.standard_normal((d, k1)))
    return Q * np.where(np.diag(R) < 0, -1.0, 1.0)


def simplex_rows(rng: np.random.Generator, N: int, K: int, kind: str, temperature: float,
                 floor: float, one_hot_fraction: float, logits=None) -> np.ndarray:
    """(N, K) probability rows; see the module docstring for the regimes."""
    if kind == "uniform":
        P = np.full((N, K), 1.0 / K)
    elif kind == "near_uniform":
        P = np.exp(log_softmax(1e-3 * rng.standard_normal((N, K)), axis=1))
    elif kind == "near_degenerate":
        # one dominant entry, the rest ~1e-12 (log-odds ~ 27 .. 30)
        P = 1e-12 * rng.uniform(0.5, 2.0, size=(N, K))
        P[np.arange(N), rng.integers(0, K, size=N)] = 1.0
        P /= P.sum(axis=1, keepdims=True)
    else:
        L = rng.standard_normal((N, K)) if logits is None else np.asarray(logits, dtype=float).reshape(N, K)
        P = np.exp(log_softmax(L / temperature, axis=1))
    if one_hot_fraction > 0:
        rows = rng.random(N) < one_hot_fraction
        if rows.any():
            P[rows] = 0.0
            P[rows, rng.integers(0, K, size=int(rows.sum()))] = 1.0
    # Subnormal entries from exp underflow are kept on purpose: they once made Tbar underflow
    # to 0 where T_ik > 0 (I_T = inf); pinned by test_teacher_information_subnormal_entries.
    P /= P.sum(axis=1, keepdims=True)
    if floor > 0:
        P = np.maximum(P, floor)
        P /= P.sum(axis=1, keepdims=True)
    return P


def weight_vector(rng: np.random.Generator, N: int, kind: str) -> np.ndarray | None:
    if kind == "none":
        return None
    if kind == "uniform":
        return np.full(N, 1.0 / N)
    if kind == "spiky":          # one point carries most of the mass: far from uniform
        w = np.full(N, 1e-3)
        w[rng.integers(N)] = 1.0
        return w / w.sum()
    if kind == "some_zero":      # zero weights are valid as long as one is positive
        w = rng.exponential(size=N) * (rng.random(N) < 0.7)
        if not w.any():
            w[rng.integers(N)] = 1.0
        return w                 # deliberately unnormalised: the package normalises
    return rng.gamma(0.3, size=N) + 1e-9   # dirichlet(0.3): strongly nonuniform


def build_instance(spec: InstanceSpec) -> Instance:
    rng = np.random.default_rng(spec.seed)
    T = simplex_rows(rng, spec.N, spec.K, spec.row_kind, spec.temperature, spec.floor,
                     spec.one_hot_fraction, spec.logits)
    w = weight_vector(rng, spec.N, spec.weight_kind)
    # Zero-weight rows with mass where Tbar = 0 are kept on purpose: they once made I_T nan
    # (0 * inf); pinned by test_t1_zero_weight_row_outside_marginal_support.
    if spec.full_marginal:
        wn = np.full(spec.N, 1.0 / spec.N) if w is None else w / w.sum()
        if (wn @ T <= 0).any():   # make the heaviest row full-support (still a valid teacher)
            i = int(np.argmax(wn))
            T[i] = 0.5 * T[i] + 0.5 / spec.K
    d = spec.K - 1 + spec.extra_d
    frame = orthonormal_frame(rng, d, spec.K - 1) if spec.frame_kind == "random" else None
    return Instance(spec, T, w, Witness(spec.K, d, spec.beta, frame))


betas = st.one_of(st.sampled_from([BETA_MIN, 1.0, BETA_MAX]),
                  st.floats(math.log(BETA_MIN), math.log(BETA_MAX)).map(math.exp),
                  st.floats(BETA_MIN, BETA_MAX))


# The strategies instance_specs draws from, built once each. Built inside the composite they were
# new objects at every draw, and Hypothesis validates a strategy the first time it draws from it:
# in a py-spy profile of a `sample` run (2026-12-07) that validation was 2.8% of the whole run and
# the strategies' construction another ~1%. The same strategies with the same labels are drawn in
# the same order, so every instance spec is drawn from the same choice sequence as before.
@functools.cache
def _integers(lo: int, hi: int) -> st.SearchStrategy[int]:
    return st.integers(lo, hi)


@functools.cache
def _sampled(values: tuple) -> st.SearchStrategy:
    return st.sampled_from(values)


@functools.cache
def _logit_arrays(N: int, K: int) -> st.SearchStrategy[np.ndarray]:
    return hnp.arrays(np.float64, (N, K), elements=st.floats(-30, 30, width=64))


_DEFAULT_ROW_KINDS = ("softmax", "softmax", "softmax", "uniform", "near_uniform", "near_degenerate")
_DEFAULT_WEIGHT_KINDS = ("dirichlet", "dirichlet", "uniform", "none", "spiky", "some_zero")
_temperatures = st.one_of(st.sampled_from([1e-3, 1.0, 1e2]), st.floats(math.log(1e-3), math.log(1e2)).map(math.exp))
_booleans = st.booleans()


@st.composite
def instance_specs(draw, *, full_support: bool, allow_one_hot: bool = True, min_K: int = 2,
                   max_K: int = MAX_K, min_N: int = 1, max_N: int = MAX_N,
                   full_marginal: bool = False, weight_kinds=None, row_kinds=None) -> InstanceSpec:
    K = draw(_integers(min_K, max_K), label="K")
    N = draw(_integers(min_N, max_N), label="N")
    seed = draw(_integers(0, 2 ** 32 - 1), label="seed")
    extra_d = draw(_integers(0, 8), label="extra_d")
    beta = draw(betas, label="beta")
    row_kind = draw(_sampled(tuple(row_kinds or _DEFAULT_ROW_KINDS)), label="row_kind")
    temperature = draw(_temperatures, label="temperature")
    logits = None
    if row_kind == "softmax" and N * K <= 48 and draw(_booleans, label="draw_logits"):
        arr = draw(_logit_arrays(N, K), label="logits")
        logits = tuple(float(x) for x in arr.ravel())
    if full_support:
        floor = draw(_sampled(FLOORS), label="floor")
        one_hot = 0.0
    else:
        floor = draw(_sampled((0.0, 0.0) + FLOORS), label="floor")
        one_hot = draw(_sampled((0.0, 0.0, 0.3, 1.0)), label="one_hot") if allow_one_hot else 0.0
    weight_kind = draw(_sampled(tuple(weight_kinds or _DEFAULT_WEIGHT_KINDS)), label="weight_kind")
    frame_kind = draw(_sampled(("random", "random", "default")), label="frame_kind")
    return InstanceSpec(seed=seed, N=N, K=K, extra_d=extra_d, beta=beta, row_kind=row_kind,
                        temperature=temperature, floor=floor, one_hot_fraction=one_hot,
                        weight_kind=weight_kind, frame_kind=frame_kind, logits=logits,
                        full_marginal=full_marginal)


def instances(**kwargs) -> st.SearchStrategy[Instance]:
    return instance_specs(**kwargs).map(build_instance)


def codes_for(inst: Instance, seed: int, kind: str) -> np.ndarray:
    """Encoder means (N, d) of several kinds: gaussian (scale up to 10/beta), constant,
    exact (mu*(T_i) when T has full support) plus noise, or collapsed-with-jitter."""
    rng = np.random.default_rng(seed)
    N, d, beta = inst.N, inst.d, inst.beta
    if kind == "constant":
        return np.repeat(rng.normal(size=(1, d)) * 3.0 / beta, N, axis=0)
    if kind == "exact" and np.all(inst.T > 0):
        from witness_theory import exact_embedding
        return exact_embedding(inst.T, inst.witness) + rng.normal(size=(N, d)) * 0.1 / beta
    if kind == "jitter":
        return rng.normal(size=(1, d)) / beta + 1e-6 * rng.normal(size=(N, d))
    return rng.normal(size=(N, d)) * rng.uniform(0.01, 10.0) / beta


code_kinds = st.sampled_from(["gaussian", "constant", "exact", "jitter"])
seeds = st.integers(0, 2 ** 32 - 1)


# ---------------------------------------------------------------------------------------
# Ledger helpers: assert with the printed CheckResult, steer Hypothesis, keep statistics
# ---------------------------------------------------------------------------------------

STATS: dict = {"tests": {}, "targets": {}}
CURRENT_TEST: list[str] = ["<outside a test>"]


def count_example() -> None:
    """Count one executed example of the current test (the bench reports the counts).

    Called by every assertion helper; repeated calls within one Hypothesis example count once
    (keyed by the example's ConjectureData object)."""
    try:
        from hypothesis.control import current_build_context
        key = id(current_build_context().data)
    except Exception:  # noqa: BLE001 - not inside a Hypothesis example
        key = None
    t = STATS["tests"].setdefault(CURRENT_TEST[0], {"calls": 0, "_last": None})
    if key is None or key != t["_last"]:
        t["calls"] += 1
        t["_last"] = key


def report(label: str, residual: float, tolerance: float) -> float:
    """``hypothesis.target`` the residual/tolerance ratio (largest is the hardest instance)
    and keep the largest ratio per label for the bench. Returns the ratio."""
    if tolerance > 0:
        ratio = residual / tolerance
    else:
        ratio = 0.0 if residual <= 0 else 1e300
    ratio = float(min(ratio, 1e300)) if np.isfinite(ratio) else 1e300
    count_example()
    try:
        # one target() per label per example: a label reported again in a loop keeps its first
        # observation for the search, while STATS below keeps the maximum of all of them
        target(ratio, label=label)
    except InvalidArgument:
        pass
    best = STATS["targets"].get(label)
    if best is None or ratio > best["ratio"]:
        STATS["targets"][label] = {"ratio": ratio, "residual": float(residual), "tolerance": float(tolerance),
                                   "test": CURRENT_TEST[0]}
    return ratio


def assert_ledger(result, label: str | None = None):
    """Assert a ledger ``CheckResult`` holds, printing all its parts on failure; report the
    worst residual/tolerance ratio to Hypothesis (label defaults to "<T> ledger")."""
    count_example()
    report(label or f"{result.theorem} ledger", result.residual, result.tolerance)
    assert result.holds, f"\n{result}"
    return result


def fin(x) -> float:
    """|x| for a finite x, else 0: the ledger's rule (witness_theory.ledger.relation) that an infinite
    side or magnitude (KL = inf where h = 0 < T) does not widen a tolerance, restated for the proofs."""
    return abs(x) if np.isfinite(x) else 0.0


def assert_close(label: str, got, expected, tol: float, what: str = "") -> float:
    """max |got - expected| <= tol, reported to Hypothesis as a residual/tolerance ratio."""
    got = np.asarray(got, dtype=float)
    expected = np.asarray(expected, dtype=float)
    res = float(np.max(np.abs(got - expected))) if got.size else 0.0
    if np.isnan(res):
        res = np.inf
    report(label, res, tol)
    assert res <= tol, (f"{label}: {what} max|got - expected| = {res:.3g} > tolerance {tol:.3g}\n"
                        f" got={got!r}\n expected={expected!r}")
    return res


def assert_le(label: str, lhs: float, rhs: float, tol: float, what: str = "") -> float:
    """lhs <= rhs + tol, reported as a residual/tolerance ratio."""
    res = max(0.0, float(lhs) - float(rhs))
    if np.isnan(lhs) or np.isnan(rhs):
        res = np.inf
    report(label, res, tol)
    assert res <= tol, f"{label}: {what} {lhs!r} <= {rhs!r} violated by {res:.3g} (tolerance {tol:.3g})"
    return res
