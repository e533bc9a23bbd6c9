"""Issue 24: the Teacher docstring promises that every function taking ``teacher`` accepts a
precomputed :class:`witness_theory.Teacher` in place of the (N, K) array (weights then part of
the object). About 25 functions refused it ("teacher must be a numeric array"). This test
finds every public function with a ``teacher`` parameter by signature (so a new one cannot be
forgotten) and calls it both ways: the results must be identical."""
from __future__ import annotations

import inspect
from dataclasses import fields, is_dataclass

import numpy as np
import pytest

import witness_theory as wt
from witness_theory import frontier

RNG = np.random.default_rng(3)
T = RNG.dirichlet(np.ones(3), size=6)                  # full support (T4, T5, T7 need it)
# non-uniform (a dropped weight would show), dyadic and summing to 1 exactly: normalising them is
# exact, so heldout_certify (which renormalises each split's weights) matches bit for bit
WEIGHTS = np.array([1, 2, 1, 2, 1, 1]) / 8
W = wt.Witness(3, 2, 1.5)
CODES = RNG.normal(size=(6, 2))
LOG_PROBS = W.log_probs(CODES)

# the arguments other than teacher/weights, by parameter name
ARGS = dict(codes=CODES, witness=W, q=np.full(3, 1 / 3), center=np.array([0.1, -0.2]), groups=[0, 0, 1, 1, 2, 2],
            view_features=CODES, split=wt.heldout_split(6, fraction=0.5, seed=0), log_probs=LOG_PROBS,
            lam=0.5, c=1.0, loss=0.2)
EXTRA = {  # keyword arguments that keep the expensive ones small and deterministic
    "heldout_certify": dict(method="raw", witness=W),
    "view_gap_estimate": dict(n_clusters=2),
    "information_bound": dict(permutations=0),
    "permutation_pvalue": dict(permutations=20),
    "bootstrap_lcb": dict(resamples=20),
}
# functions without a weights parameter whose result depends on weights: with a weighted Teacher
# they must refuse (dropping the weights silently would be wrong); with a uniform one, accept
UNWEIGHTED_SUMS = {"information_bound", "permutation_pvalue", "bootstrap_lcb"}


def _public():
    found = {}
    for mod, names in ((wt, wt.__all__), (frontier, [n for n in dir(frontier) if not n.startswith("_")])):
        for name in names:
            f = getattr(mod, name)
            if inspect.isfunction(f) and "teacher" in inspect.signature(f).parameters and f.__module__.startswith(
                    "witness_theory") and name not in ("check_teacher", "loss_at_zero"):
                found[name] = f
    for t in wt.LEDGER:   # the theorem checks T1..T11 (their check(...) has the _check_tN signature)
        params = inspect.signature(t._check).parameters if hasattr(t, "_check") else {}
        if list(params)[:1] == ["teacher"]:   # T13's teacher is p(y|x) beside p_x (information.py): not this API
            found[f"{t.id}.check"] = t.check
    return found


PUBLIC = _public()


def _call(name, f, teacher, weights):
    fn = getattr(f, "__wrapped__", f)
    params = inspect.signature(fn if inspect.isfunction(fn) else f).parameters
    if name.endswith(".check"):
        tid = name.split(".")[0]
        params = inspect.signature(next(t for t in wt.LEDGER if t.id == tid)._check).parameters
    kwargs = {p: ARGS[p] for p in params if p in ARGS and params[p].default is inspect.Parameter.empty}
    if name.endswith(".check") and "codes" in params and "codes" not in kwargs:
        kwargs["codes"] = CODES
        kwargs.setdefault("witness", W) if "witness" in params else None
    kwargs.update(EXTRA.get(name, {}))
    if weights is not None:
        kwargs["weights"] = weights
    return f(teacher, **kwargs)


def _same(a, b):
    if a is b:
        return True
    if is_dataclass(a) and not isinstance(a, type):
        return all(_same(getattr(a, f.name), getattr(b, f.name)) for f in fields(a))   # astuple deep-copies
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.array_equal(np.asarray(a), np.asarray(b), equal_nan=True)
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (np.isnan(a) and np.isnan(b))
    if type(a).__eq__ is object.__eq__ and hasattr(a, "__dict__"):   # e.g. the predictor: compare its state
        return type(a) is type(b) and _same(vars(a), vars(b))
    return a == b


def test_every_teacher_function_is_found():
    assert len(PUBLIC) >= 35, sorted(PUBLIC)
    assert {"teacher_marginal", "escape_field", "view_gap", "check_all", "heldout_certify", "T1.check",
            "T11.check"} <= set(PUBLIC)


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_teacher_object_equals_array(name):
    f = PUBLIC[name]
    takes_weights = "weights" in (inspect.signature(next(t for t in wt.LEDGER if t.id == name.split(".")[0])._check)
                                  if name.endswith(".check") else inspect.signature(f)).parameters
    if takes_weights:
        want = _call(name, f, T, WEIGHTS)
        got = _call(name, f, wt.Teacher(T, WEIGHTS), None)
        assert _same(got, want), f"{name}: Teacher {got!r:.300} != array {want!r:.300}"
        with pytest.raises(ValueError, match=r"weights are part of a Teacher"):
            _call(name, f, wt.Teacher(T, WEIGHTS), WEIGHTS)
    else:
        want = _call(name, f, T, None)
        got = _call(name, f, wt.Teacher(T), None)
        assert _same(got, want), f"{name}: Teacher {got!r:.300} != array {want!r:.300}"
        if name in UNWEIGHTED_SUMS:
            with pytest.raises(ValueError, match=r"^teacher is a Teacher with non-uniform weights"):
                _call(name, f, wt.Teacher(T, WEIGHTS), None)
        else:   # per-row functions: a Teacher's weights play no part
            assert _same(_call(name, f, wt.Teacher(T, WEIGHTS), None), want)


@pytest.mark.parametrize("rows", ["as given", "renormalised", "one row", "a Teacher"])
def test_teacher_row_sums_are_the_rows_own_sums(rows):
    """Teacher keeps the validation's row sums where its rows are the array the validation summed
    (issue 20: one pass less); they must be exactly T.sum(axis=1) of the rows it holds, including
    where the validation renormalised the rows (then summed again) or was handed a Teacher."""
    src = {"as given": T, "renormalised": T * (1 + 1e-9), "one row": T[0], "a Teacher": wt.Teacher(T)}[rows]
    t = wt.Teacher(src)
    assert np.array_equal(t.row_sums, t.T.sum(axis=1))
    assert (t.T is T) == (rows in ("as given", "a Teacher"))     # no copy of rows that need none
