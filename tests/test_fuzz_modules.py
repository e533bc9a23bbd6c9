"""Hypothesis fuzz of the public modules outside ``witness_theory.__all__`` (issue 13):
``witness_theory.frontier`` (T11), ``witness_theory.collapse_metrics`` (MI and active units) and
``witness_theory.linear_vae`` (T12), with malformed inputs.

The same contract as tests/test_fuzz_witness_theory.py, whose helpers this file imports rather
than copies (``_check_outcome``, ``_nan_paths``, ``_settings``, ``instances``, ``bad_values`` for
the parameters both share: teacher, witness, weights, codes, mu, log_var, margin; the profile
table ``_COUNTS``). Every callable in each module's ``__all__`` is found by introspection, so a
newly exported function is fuzzed as soon as it exists (a parameter without a strategy fails
:func:`test_every_parameter_has_a_strategy`). Each example starts from a small valid instance
(K 2..5, N 1..6, d = K-1..K+1 from the main file's ``instances``; a linear VAE with D 1..4,
d 1..min(3, D), a PSD data_cov, sigma2 > 0, kl_weight > 0) and replaces one or two arguments
with a malformed value, each labelled "must raise" (invalid) or "may return" (valid but
extreme). The outcome must be a one-line ValueError/TypeError naming an argument, or a result
without NaN, and a result only when no injected value is invalid.

Example counts: ``_N_FUNC`` per function from the main file's ``_COUNTS`` (dev 8, ci 60,
thorough 600) over the 18 functions (7 frontier, 7 collapse_metrics, 4 linear_vae): dev 144,
ci 1,080, thorough 10,800 examples, besides the main file's 3,326 / 33,230 (4,406 under ci and
44,030 under thorough for the two files). Measured on the 2-core development machine while
another job kept both cores busy (load average 2.9): ci 13 s, thorough 127 s for this file.
Counterexamples the fuzz found are frozen below as plain tests (test_frozen_counterexamples
and the named tests after it); each of them failed on the modules before the fix.
"""
from __future__ import annotations

import importlib.util
import inspect
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from witness_theory import collapse_metrics, frontier, linear_vae


def _main_fuzz_module():
    """tests/test_fuzz_witness_theory.py: importable by name under pytest's default (prepend)
    import mode, which puts tests/ on sys.path; loaded from its path otherwise."""
    try:
        import test_fuzz_witness_theory as base
    except ImportError:
        path = Path(__file__).with_name("test_fuzz_witness_theory.py")
        spec = importlib.util.spec_from_file_location("test_fuzz_witness_theory", path)
        assert spec is not None and spec.loader is not None
        base = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = base
        spec.loader.exec_module(base)
    return base


_base = _main_fuzz_module()
_check_outcome, _nan_paths, _settings = _base._check_outcome, _base._nan_paths, _base._settings
_N_FUNC = _base._N_FUNC

# ---------------------------------------------------------------------------------------
# The public callables
# ---------------------------------------------------------------------------------------

MODULES = {"frontier": frontier, "collapse_metrics": collapse_metrics, "linear_vae": linear_vae}
NOT_FUZZED = {
    "frontier.Frontier": "frozen result record built by margin_energy_frontier()",
    "linear_vae.LinearVAEOptimum": "frozen result record built by linear_vae_optimum()",
}
PUBLIC = {f"{short}.{name}": getattr(mod, name) for short, mod in MODULES.items() for name in mod.__all__
          if callable(getattr(mod, name)) and f"{short}.{name}" not in NOT_FUZZED}


def _params(fname: str) -> list[inspect.Parameter]:
    return [p for p in inspect.signature(PUBLIC[fname]).parameters.values()
            if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]


# ---------------------------------------------------------------------------------------
# Valid instances
# ---------------------------------------------------------------------------------------

# parameters whose meaning (and valid instance) is the main file's: its bad_values draws them
SHARED = {"teacher", "witness", "weights", "codes", "mu", "log_var", "margin"}
REALS = {"c", "lam", "loss", "mi_estimate", "threshold", "sigma2", "kl_weight"}
INTEGERS = {"max_iter", "n", "batch_size", "repeats", "d"}
ARRAYS = {"start", "lambdas", "z", "unit_variances", "W", "b", "V", "e", "log_s2", "data_mean", "data_cov",
          "eigenvalues"}
OTHERS = {"rng", "seed", "full"}
KNOWN_PARAMS = SHARED | REALS | INTEGERS | ARRAYS | OTHERS


@st.composite
def instances(draw):
    """The main file's instance (teacher, witness, codes, mu, log_var, weights, margin, ...) plus
    the arguments of these modules; ``lvae`` holds the linear VAE's (its own D and d)."""
    inst = draw(_base.instances())
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    N, K = inst["teacher"].shape
    d = inst["d"]
    use_rng = draw(st.booleans())
    inst.update({
        "c": draw(st.sampled_from([0.0, 0.5, 3.0, 50.0])), "lam": draw(st.sampled_from([0.0, 0.2, 2.0, 30.0])),
        "loss": draw(st.sampled_from([0.0, 0.05, 0.3, 5.0])),
        "start": None if draw(st.booleans()) else rng.normal(size=(N, K)), "max_iter": 200,
        "lambdas": None if draw(st.booleans()) else np.array([0.0, 0.5, 4.0]), "n": draw(st.integers(1, 5)),
        "rng": np.random.default_rng(1) if use_rng else None, "seed": None if use_rng else draw(st.integers(0, 9)),
        "batch_size": draw(st.integers(1, 4)), "full": draw(st.booleans()),
        "z": None if draw(st.booleans()) else rng.normal(size=(N, d)), "repeats": draw(st.integers(1, 3)),
        "mi_estimate": float(rng.normal()), "threshold": 0.01,
        "unit_variances": rng.uniform(0.0, 2.0, d),
    })
    D = draw(st.integers(1, 4))
    dl = draw(st.integers(1, min(3, D)))
    U = np.linalg.qr(rng.normal(size=(D, D)))[0]
    lam = rng.uniform(0.0, 3.0, D) * (rng.random(D) > 0.2)                  # some zero eigenvalues
    C = U @ np.diag(lam) @ U.T
    inst["lvae"] = {
        "W": rng.normal(size=(D, dl)), "b": rng.normal(size=D), "V": rng.normal(size=(dl, D)) * 0.5,
        "e": rng.normal(size=dl), "log_s2": rng.normal(size=dl) * 0.5,
        "data_mean": None if draw(st.booleans()) else rng.normal(size=D), "data_cov": 0.5 * (C + C.T),
        "sigma2": draw(st.sampled_from([0.1, 0.5, 1.0, 2.0])), "kl_weight": draw(st.sampled_from([0.25, 1.0, 4.0])),
        "d": dl, "eigenvalues": lam,
    }
    return inst


def _instance_for(fname: str, inst: dict) -> dict:
    return {**inst, **inst["lvae"]} if fname.startswith("linear_vae.") else inst


# ---------------------------------------------------------------------------------------
# Malformed values: (value, must_raise, label)
# ---------------------------------------------------------------------------------------

def _common(param: inspect.Parameter, none_ok: bool | None = None):
    none_ok = param.default is None if none_ok is None else none_ok
    return [(None, not none_ok, "None"), ("abc", True, "text"), (object(), True, "object"), ({"a": 1}, True, "dict")]


def _poke(v, value):
    return _base._poke(v, value)


def _real_values(fname: str, param: inspect.Parameter):
    name = param.name
    inf_ok = name in {"c", "loss"}                                     # c = inf: exact logits; loss = inf: E_min = 0
    zero_ok = name in {"c", "lam", "loss", "mi_estimate", "threshold"} or fname == "linear_vae.linear_vae_elbo"
    negative_ok = name == "mi_estimate"                                # He et al.'s estimate can be < 0
    return _common(param) + [
        (np.nan, True, "NaN"), (np.inf, not inf_ok, "inf"), (-np.inf, True, "-inf"), (1j, True, "complex"),
        (1.0 + 0j, True, "complex zero imaginary"), (True, True, "bool"), (np.bool_(False), True, "numpy bool"),
        ("1.0", True, "number as text"), ([1.0], True, "list"), (np.array([1.0, 2.0]), True, "array"),
        (0.0, not zero_ok, "zero"), (-1.0, not negative_ok, "negative"), (-1e-300, not negative_ok, "tiny negative"),
        (1e300, False, "huge"), (1e308, False, "1e308"), (1e-200, False, "tiny"), (5e-324, False, "subnormal"),
        (np.float32(0.5), False, "float32"), (np.int64(2), False, "numpy int"), (3, False, "int"),
    ]


def _integer_values(fname: str, param: inspect.Parameter, inst: dict):
    name = param.name
    low = {"max_iter": 0, "n": 1, "batch_size": 1, "repeats": 1, "d": 1}[name]
    huge_ok = {"max_iter": True, "n": False, "batch_size": True, "repeats": False,
               "d": fname != "linear_vae.linear_vae_optimum"}[name]     # n and repeats <= 10**6; d <= D for W
    opts = _common(param) + [
        (np.nan, True, "NaN"), (np.inf, True, "inf"), (2.5, True, "float"), (float(low + 1), True, "integral float"),
        ("3", True, "number as text"), (True, True, "bool"), (3 + 0j, True, "complex"), ([2], True, "list"),
        (low - 1, True, "too small"), (-(10 ** 30), True, "huge negative"), (10 ** 30, not huge_ok, "enormous"),
        (np.int64(low), False, "numpy int"), (np.uint8(low + 1), False, "numpy uint8"), (low, False, "smallest"),
    ]
    if name in {"n", "repeats"}:
        opts += [(10 ** 6 + 1, True, "over the cap")]
    if name == "d":
        D = inst["data_cov"].shape[0]
        opts += [(D + 1, fname == "linear_vae.linear_vae_optimum", "more than D")]
    return opts


def _array_values(fname: str, param: inspect.Parameter, inst: dict):
    name = param.name
    v = inst[name]
    N, K = inst["teacher"].shape
    defaults = {"start": np.zeros((N, K)), "lambdas": np.array([0.0, 1.0]), "z": inst["mu"],
                "data_mean": np.zeros(inst["data_cov"].shape[0]) if "data_cov" in inst else None}
    base = np.asarray(v if v is not None else defaults[name], dtype=float)
    none_ok = param.default is None or name == "data_mean"              # data_mean=None: the data are centred
    nonneg = name in {"lambdas", "unit_variances", "eigenvalues"}
    opts = _common(param, none_ok) + [
        (_poke(base, np.nan), True, "NaN"), (_poke(base, np.inf), True, "+inf"), (_poke(base, -np.inf), True, "-inf"),
        (base + 0j, True, "complex"), (base.astype(str), True, "numbers as text"), (base[None, None], True, "3-D"),
        ([[1.0], [1.0, 2.0]], True, "ragged"), (base[:0], True, "empty"),
        (np.full(base.shape, 1e300) if name != "data_cov" else base * 1e300, False, "huge"),
        (np.full(base.shape, 1e308) if name != "data_cov" else np.eye(base.shape[0]) * 1e308, False, "1e308"),
        (base * 1e-200, False, "tiny"), (np.zeros_like(base), False, "zeros"),
        (-np.abs(base) - 1.0, nonneg or name == "data_cov", "negative"),
        (np.concatenate([base, base[..., :1]], axis=-1) if base.size else np.ones(1),
         name not in {"lambdas", "eigenvalues"}, "extra column"),
    ]
    if name == "lambdas":
        opts += [(2.0, False, "scalar"), ([[0.5, 1.0]], True, "2-D"), (np.array([3.0, 0.0, 1.0]), False, "unsorted")]
    if name in {"start", "z"}:
        opts += [(base[:-1] if base.shape[0] > 1 else base[:, :-1], True, "missing row"),
                 (base[0], base.shape[0] > 1, "one row 1-D")]
    if name in {"W", "V"}:
        opts += [(base.T, base.shape[0] != base.shape[1], "transposed"), (base[0], True, "1-D")]
    if name in {"b", "e", "log_s2", "data_mean", "eigenvalues", "unit_variances"}:
        opts += [(base[None], True, "2-D"), (np.append(base, 1.0), name != "eigenvalues", "wrong length")]
    if name == "log_s2":
        opts += [(np.full(base.shape, 800.0), False, "exp overflows"), (np.full(base.shape, -800.0), False, "exp underflows")]
    if name == "data_cov":
        D = base.shape[0]
        skew = np.triu(np.ones((D, D)), 1)
        lam_max = float(np.linalg.eigvalsh(base).max()) if D else 0.0
        opts += [(base + skew, D > 1, "asymmetric"), (base - (lam_max + 1.0) * np.eye(D), True, "not PSD"),
                 (base + 1e-17 * skew, False, "asymmetric by rounding"),
                 (base[:, :-1] if D > 1 else np.ones((1, 2)), True, "not square"),
                 (np.eye(D + 1), fname.endswith("_elbo") or inst["data_mean"] is not None, "other D"), (base[0], True, "1-D")]
    if name == "eigenvalues":
        opts += [(np.append(base, -1.0), True, "a negative eigenvalue"), (np.append(base, -1e-300), False, "rounding negative"),
                 (base[::-1], False, "increasing")]
    if name == "unit_variances":
        opts += [(np.append(base, 1.0), True, "other d")]
    return opts


def _other_values(fname: str, param: inspect.Parameter, inst: dict):
    name = param.name
    if name == "rng":
        return _common(param) + [(np.random.default_rng(3), False, "Generator"), (3, True, "int"),
                                 (np.random.RandomState(0), True, "RandomState"), (np.random.default_rng, True, "function"),
                                 (np.random.PCG64(0), True, "bit generator")]
    if name == "seed":
        return _common(param, none_ok=True) + [(-1, True, "negative"), (2.5, True, "float"), ("3", True, "number as text"),
                                 (True, True, "bool"), (3 + 0j, True, "complex"), (np.nan, True, "NaN"),
                                 (10 ** 30, False, "huge"), (np.int64(7), False, "numpy int"), ([1, 2], False, "sequence"),
                                 ([1, -2], True, "negative in sequence"), (2 ** 64, False, "2**64")]
    if name == "full":
        return _common(param) + [("yes", True, "text"), (1, True, "int"), (np.bool_(True), False, "numpy bool"),
                                 (False, False, "False"), (True, False, "True")]
    raise AssertionError(f"no strategy for parameter {name!r}")


def bad_values(fname: str, param: inspect.Parameter, inst: dict):
    """Strategy of (value, must_raise, label) for one parameter of ``fname`` on a valid instance."""
    name = param.name
    if name in SHARED:
        return _base.bad_values(param, inst)
    if name in REALS:
        opts = _real_values(fname, param)
    elif name in INTEGERS:
        opts = _integer_values(fname, param, inst)
    elif name in ARRAYS:
        opts = _array_values(fname, param, inst)
    else:
        opts = _other_values(fname, param, inst)
    return st.sampled_from(opts)


# ---------------------------------------------------------------------------------------
# The fuzz
# ---------------------------------------------------------------------------------------

def test_every_parameter_has_a_strategy():
    missing = {(f, p.name) for f in PUBLIC for p in _params(f) if p.name not in KNOWN_PARAMS}
    assert not missing, f"add strategies for {sorted(missing)} (a new public function?)"
    # every name in each module's __all__ is fuzzed, a listed record, or a constant
    for short, mod in MODULES.items():
        for name in mod.__all__:
            q = f"{short}.{name}"
            assert q in PUBLIC or q in NOT_FUZZED or not callable(getattr(mod, name)), q
    assert len(PUBLIC) >= 18


def test_main_fuzz_lists_no_gap_for_these_modules():
    """The main file's KNOWN_GAP_MODULES no longer lists the modules fuzzed here."""
    assert not set(_base.KNOWN_GAP_MODULES) & {f"witness_theory.{m}" for m in MODULES}


@pytest.mark.parametrize("fname", sorted(PUBLIC))
@_settings(_N_FUNC)
@given(data=st.data())
def test_fuzz_module_function(fname, data):
    inst = _instance_for(fname, data.draw(instances(), label="instance"))
    params = _params(fname)
    n_bad = data.draw(st.integers(1, min(2, len(params))), label="how many malformed")
    chosen = data.draw(st.lists(st.sampled_from(params), min_size=n_bad, max_size=n_bad, unique_by=lambda p: p.name),
                       label="malformed")
    kwargs = {p.name: inst[p.name] for p in params}
    injected = []
    for p in chosen:
        value, must_raise, label = data.draw(bad_values(fname, p, inst), label=p.name)
        kwargs[p.name] = value
        injected.append((p.name, must_raise, label))
    # "other D" data_cov conflicts with the data_mean actually passed, which may itself have been
    # replaced (by None: centred data, no D to conflict with); found by the thorough recount of 2026-12-05
    injected = [(n, fname.endswith("_elbo") or kwargs.get("data_mean") is not None, lab) if lab == "other D"
                else (n, must, lab) for n, must, lab in injected]
    _check_outcome(fname, lambda: PUBLIC[fname](**kwargs), params, injected)


# ---------------------------------------------------------------------------------------
# Counterexamples the fuzz found in these modules, frozen as plain tests
# ---------------------------------------------------------------------------------------

_W2 = frontier.core.Witness(2, 2, 1.0)
_FROZEN_BASE = {
    # frontier
    "teacher": [[0.4, 0.6]], "witness": _W2, "c": 1.0, "lam": 1.0, "loss": 0.01,
    # collapse metrics
    "mu": [[0.1, -0.2], [0.3, 0.4]], "log_var": [[0.0, -0.5], [0.2, 0.1]], "codes": [[0.1, -0.2], [0.3, 0.4]],
    "margin": 0.1, "unit_variances": [0.5, 0.02], "mi_estimate": 0.1,
    # linear VAE: D = 2, d = 1
    "W": [[1.0], [0.0]], "b": [0.0, 0.0], "V": [[0.5, 0.0]], "e": [0.0], "log_s2": [0.0], "data_mean": None,
    "data_cov": [[2.0, 0.0], [0.0, 0.5]], "sigma2": 1.0, "kl_weight": 1.0, "d": 1, "eigenvalues": [2.0, 0.5],
}


@pytest.mark.parametrize("fname,kwargs,outcome", [
    # frontier: the teacher's K against the witness's was a raw matmul/broadcast error
    ("frontier.frontier_codes", dict(teacher=[[0.2, 0.3, 0.5]]), "error"),
    ("frontier.min_energy", dict(witness=frontier.core.Witness(3, 2)), "error"),
    ("frontier.frontier_logits", dict(start=[[np.nan, 0.0]]), "error"),             # start unchecked: NaN accepted
    ("frontier.frontier_logits", dict(start="abc"), "error"),
    ("frontier.frontier_dual", dict(start=[0.1, 0.2], teacher=[[0.4, 0.6], [0.5, 0.5]]), "error"),  # AxisError
    ("frontier.frontier_logits", dict(max_iter=-1), "error"),                       # accepted: 0 iterations
    ("frontier.frontier_logits", dict(max_iter=None), "error"),                     # raw TypeError from range()
    ("frontier.frontier_logits", dict(start=[[1e308, 1e308]]), "result"),           # mean = inf: message named 'codes'
    ("frontier.margin_energy_frontier", dict(lambdas=[]), "error"),                 # an empty frontier was returned
    ("frontier.margin_energy_frontier", dict(witness=frontier.core.Witness(2, 2, 1e300)), "result"),  # c = 0 * inf = NaN
    ("frontier.frontier_dual", dict(lam=0.0, witness=frontier.core.Witness(2, 2, 1e300)), "result"),   # same
    ("frontier.min_energy", dict(witness=frontier.core.Witness(2, 2, 1e-200)), "error"),  # 'lam must be finite'
    ("frontier.margin_energy_frontier", dict(witness=frontier.core.Witness(2, 2, 1e-200)), "error"),  # same
    # collapse metrics
    ("collapse_metrics.mutual_information_spread", dict(mu=[[1e200, 0.0], [-1e200, 1.0], [3.0, 2.0]],
                                                        log_var=np.zeros((3, 2)), repeats=2), "error"),
    # found (thorough, 2026-12-05): inf estimates, so a NaN standard deviation in the spread's dict
    ("collapse_metrics.he_mutual_information", dict(rng="abc"), "error"),           # AttributeError
    ("collapse_metrics.he_mutual_information", dict(seed=-1), "error"),             # numpy's message, no argument
    ("collapse_metrics.matched_mutual_information", dict(rng=np.random.default_rng(0), seed="abc"), "error"),  # ignored
    ("collapse_metrics.matched_mutual_information", dict(seed=0, full="yes"), "error"),   # truthy text accepted
    ("collapse_metrics.matched_mutual_information", dict(seed=0, z=[[0.0, 0.0]]), "error"),  # raw broadcast error
    ("collapse_metrics.he_mutual_information", dict(seed=0, z=np.zeros((2, 3))), "error"),   # raw matmul error
    ("collapse_metrics.he_mutual_information", dict(seed=0, mu=np.zeros((0, 2)), log_var=np.zeros((0, 2))), "error"),
    ("collapse_metrics.mutual_information_spread", dict(repeats=10 ** 9), "error"),  # ran for hours
    ("collapse_metrics.mutual_information_spread", dict(log_var=[[800.0, 0.0], [0.0, 0.0]]), "error"),  # named 'z'
    ("collapse_metrics.mutual_information_spread", dict(seed=2.5), "error"),        # numpy's TypeError
    ("collapse_metrics.mi_noise_flag", dict(mi_estimate=np.nan), "error"),          # NaN in the result
    ("collapse_metrics.mi_noise_flag", dict(mi_estimate="abc"), "error"),           # float()'s message
    ("collapse_metrics.active_units", dict(codes=[[0.1, 0.2]]), "error"),           # message named no argument
    ("collapse_metrics.active_units", dict(weights=[np.nan, 1.0]), "error"),        # weights unchecked: NaN variances
    ("collapse_metrics.active_units", dict(weights=[-1.0, 2.0]), "error"),
    ("collapse_metrics.active_units", dict(threshold=None), "error"),               # raw TypeError
    ("collapse_metrics.active_units", dict(threshold=-1.0), "error"),               # every unit counted active
    ("collapse_metrics.active_units_lower_bound", dict(margin=1e300), "error"),     # OverflowError in int(ceil(inf))
    ("collapse_metrics.active_units_lower_bound", dict(witness=frontier.core.Witness(2, 2, 1e-200)), "error"),  # same
    ("collapse_metrics.active_units_lower_bound", dict(unit_variances=[]), "error"),  # numpy's zero-size message
    ("collapse_metrics.active_units_lower_bound", dict(unit_variances=[-1.0, 0.5]), "error"),
    ("collapse_metrics.active_units_lower_bound", dict(unit_variances=[0.5, 0.2, 0.1]), "error"),  # d = 3 vs witness d = 2
    ("collapse_metrics.active_units_lower_bound", dict(threshold=np.nan), "error"),  # message named no argument
    # linear VAE
    ("linear_vae.linear_vae_elbo", dict(sigma2=0.0), "error"),                      # NaN
    ("linear_vae.linear_vae_elbo", dict(sigma2=None), "error"),                     # numpy's ufunc message
    ("linear_vae.linear_vae_elbo", dict(kl_weight=np.nan), "error"),                # NaN
    ("linear_vae.linear_vae_elbo", dict(V=np.zeros((1, 3))), "error"),              # raw matmul error
    ("linear_vae.linear_vae_elbo", dict(log_s2=[]), "error"),                       # broadcast: accepted
    ("linear_vae.linear_vae_elbo", dict(b=[]), "error"),                            # broadcast: accepted
    ("linear_vae.linear_vae_elbo", dict(data_cov=[[-1.0, 0.0], [0.0, 0.5]]), "error"),  # not PSD: accepted
    ("linear_vae.linear_vae_elbo", dict(V=[[1e300, -1e300]], data_cov=[[1.0, 0.5], [0.5, 1.0]]), "error"),  # NaN
    ("linear_vae.linear_vae_optimum", dict(data_cov=[[2.0, 1.0], [0.0, 0.5]]), "error"),  # asymmetric: symmetrised
    ("linear_vae.linear_vae_optimum", dict(d=1.5), "error"),                        # raw slice TypeError
    ("linear_vae.linear_vae_optimum", dict(sigma2=None), "error"),
    ("linear_vae.linear_vae_optimum", dict(sigma2=1e308, kl_weight=4.0), "error"),  # NaN elbo: b sigma^2 = inf
    ("linear_vae.linear_vae_optimum", dict(sigma2=0.5, kl_weight=5e-324), "error"),  # NaN elbo: b sigma^2 = 0
    ("linear_vae.linear_vae_optimum", dict(data_cov=np.eye(2) * 1e308), "result"),  # (C + C^T) / 2 overflowed
    ("linear_vae.linear_vae_optimal_elbo", dict(eigenvalues=[]), "error"),          # accepted
    ("linear_vae.linear_vae_optimal_elbo", dict(d=-1), "error"),                    # act[:-1]: a verdict for d = -1
    ("linear_vae.linear_vae_optimal_elbo", dict(kl_weight=1e308), "error"),         # NaN
    ("linear_vae.linear_vae_active_count", dict(sigma2=np.nan), "error"),           # returned 0
    ("linear_vae.linear_vae_active_count", dict(eigenvalues=[2.0, -1.0]), "error"),  # accepted
    ("linear_vae.linear_vae_active_count", dict(d=None), "error"),                  # act[:None]: every eigenvalue
])
def test_frozen_counterexamples(fname, kwargs, outcome):
    params = _params(fname)
    full = {p.name: _FROZEN_BASE[p.name] for p in params if p.name in _FROZEN_BASE and p.name not in kwargs}
    injected = [(k, outcome == "error", "frozen") for k in kwargs]
    assert _check_outcome(fname, lambda: PUBLIC[fname](**full, **kwargs), params, injected) == outcome


def test_frontier_far_start_converges():
    """A start so far out that the objective overflows (||a||^2 / 2c = inf) left the Armijo test
    comparing against inf - inf: no step was ever taken, and the start came back as the solution
    (200 iterations x 60 halvings). Those rows now restart from 0 and reach the same solution."""
    T = np.array([[0.4, 0.6], [0.1, 0.9]])
    want, res = frontier.frontier_logits(T, 2.0)
    for start in ([[1e300, -1e300], [0.0, 0.0]], [[1e200, -1e200], [3e155, -3e155]]):
        got, res_got = frontier.frontier_logits(T, 2.0, start=start)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
        assert res_got <= 1e-12
    # a subnormal multiplier: a / c = inf at any nonzero start (was ~1 s of stuck line searches)
    a, res = frontier.frontier_logits(T, 5e-324, start=[[1.0, -1.0], [0.5, -0.5]])
    assert np.array_equal(a, np.zeros((2, 2))) and np.isfinite(res)     # a = c (T - S) rounds to 0


def test_active_units_of_huge_constant_codes():
    """Codes of 1e308 in every row: the mean overflowed to inf and the variance came out inf
    (every unit 'active') where it is 0; mixed +-1e308 rows gave NaN."""
    n, var = collapse_metrics.active_units(np.full((3, 2), 1e308))
    assert n == 0 and np.array_equal(var, [0.0, 0.0])
    n, var = collapse_metrics.active_units(np.array([[1e308], [1e308], [-1e308], [-1e308]]))
    assert n == 1 and var[0] == np.inf
    n, var = collapse_metrics.active_units(np.full((3, 2), 1e308), weights=[1.0, 2.0, 3.0])
    assert n == 0 and not np.isnan(var).any()


@pytest.mark.parametrize("loss", [0.0, 1e-200, 1e-17])
def test_min_energy_at_loss_within_rounding_of_zero(loss):
    """Found by the fuzz under ``thorough`` (loss = 1e-200), and valid input: E_min(0) raised
    scipy's 'f(a) and f(b) must have different signs'. The loss at the largest multiplier is
    ~1e-17 of rounding, and brentq re-solves the ends warm-started from elsewhere, so the
    re-solved loss fell on the other side of L. Now the end's weak-duality bound is returned:
    at most the T5 exact-code energy (the exact codes have L = 0), and close to it."""
    T = np.array([[0.00923439, 0.00127938, 0.24988798, 0.73959825], [0.0655593, 0.07348256, 0.27336012, 0.58759802]])
    W = frontier.core.Witness(4, 4, 0.3)
    e_min, lam = frontier.min_energy_point(T, W, loss)
    e_exact = frontier.core.exact_code_energy(T, W)
    assert 0 < lam < np.inf and e_min <= e_exact and e_min >= e_exact * (1 - 1e-4)
