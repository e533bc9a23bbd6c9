"""Bad input to the certified-information functions (T13): an error naming the argument, never a
traceback from numpy or a silent result. The generated-input fuzz (test_fuzz_witness_theory.py)
lists these functions as covered here."""
from __future__ import annotations

import numpy as np
import pytest

import witness_theory as wt

RNG = np.random.default_rng(0)
T = RNG.dirichlet(np.ones(3), 40)
LOG_H = np.log(RNG.dirichlet(np.ones(3), 40))
CODES = RNG.normal(size=(40, 4))


@pytest.mark.parametrize("kwargs,name", [
    ({"delta": 0.0}, "delta"), ({"delta": 1.0}, "delta"), ({"delta": np.nan}, "delta"), ({"delta": "0.05"}, "delta"),
    ({"eps": 0.0}, "eps"), ({"eps": 2.0}, "eps"), ({"gamma": -1e-3}, "gamma"), ({"gamma": None}, "gamma"),
    ({"permutations": -1}, "permutations"), ({"permutations": 9.5}, "permutations"), ({"permutations": True}, "permutations"),
    ({"bootstrap": -2}, "bootstrap"), ({"seed": -1}, "seed"), ({"seed": 2 ** 40}, "seed"), ({"seed": "1"}, "seed"),
])
def test_information_bound_names_the_bad_argument(kwargs, name):
    with pytest.raises((ValueError, TypeError), match=name):
        wt.information_bound(T, LOG_H, **kwargs)


@pytest.mark.parametrize("teacher,log_probs,name", [
    (T, LOG_H[:10], "log_probs"),                       # rows do not match
    (T, LOG_H[:, :2], "log_probs"),                     # K does not match
    (T, -LOG_H, "log_probs"),                           # positive: not log-probabilities
    (T, np.where(LOG_H < -1, np.nan, LOG_H), "log_probs"),
    (T, LOG_H.astype(str), "log_probs"),
    (T, LOG_H + 0j, "log_probs"),
    (T[:1], LOG_H[:1], "at least 2"),
    (2 * T, LOG_H, "teacher"),
    (T, LOG_H[None], "log_probs"),                      # 4-D after the draws axis
])
def test_information_bound_refuses_bad_arrays(teacher, log_probs, name):
    with pytest.raises((ValueError, TypeError), match=name):
        wt.information_bound(teacher, log_probs)


def test_pvalue_bootstrap_verdict_and_units_name_their_arguments():
    with pytest.raises(ValueError, match="permutations"):
        wt.permutation_pvalue(T, LOG_H, permutations=0)
    with pytest.raises(ValueError, match="eps"):
        wt.permutation_pvalue(T, LOG_H, eps=1.5)
    with pytest.raises(ValueError, match="resamples"):
        wt.bootstrap_lcb(T, LOG_H, resamples=0)
    with pytest.raises(TypeError, match="margin"):
        wt.verdict("1", 0.0, None)
    with pytest.raises(ValueError, match="float_error"):
        wt.verdict(1.0, -1.0, None)
    with pytest.raises((ValueError, TypeError), match="lcb"):
        wt.verdict(1.0, 0.0, "x")
    with pytest.raises(ValueError, match="NaN"):
        wt.verdict(np.nan, 0.0, None)
    with pytest.raises(ValueError, match="codes_eval"):
        wt.certified_active_units(T, CODES, T, np.where(CODES > 1, np.inf, CODES))
    with pytest.raises(ValueError, match="bins"):
        wt.certified_active_units(T, CODES, T, CODES, bins=0)
    with pytest.raises(ValueError, match="delta"):
        wt.certified_active_units(T, CODES, T, CODES, delta=0)
    # the posterior certificate (sampled codes (n, M, d)): the estimators' fit and certify
    samples = CODES[:, None]
    with pytest.raises(ValueError, match=r"share 40 row id\(s\)"):
        wt.Probe(max_iter=50).fit(T, samples, np.arange(40)).certify(T, samples, np.arange(40))
    with pytest.raises(ValueError, match="^weights must be None with sampled codes"):
        wt.Probe(max_iter=50).fit(T, samples, np.arange(40), weights=np.ones(40))
    with pytest.raises(ValueError, match="^codes of shape .* are M = 0 draws per row"):
        wt.Probe(max_iter=50).fit(T, np.zeros((40, 0, 4)), np.arange(40))


def test_valid_calls_return_finite_results():
    b = wt.information_bound(T, LOG_H, permutations=9, bootstrap=9, seed=3)
    assert np.isfinite([b.lcb, b.margin_mixed, b.bootstrap_lcb]).all() and 0.1 <= b.p_value <= 1
    assert wt.verdict(0.1, 0.0, -0.5) == "positive, not significant" and wt.verdict(0.1, 0.0, 0.01) == "certified"
