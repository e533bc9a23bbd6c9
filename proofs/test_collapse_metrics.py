"""Honest collapse metrics (witness_theory.collapse_metrics) and the T8 active-unit bound.

Routes: He et al.'s estimator against empirical.training.metrics (torch) on the same z; the matched
form against scipy's multivariate normal log-density (log q(z_i|x_i) + H_i is the difference
of the two estimators, row by row); exact 0 at identical posteriors; the T8 lower bound on
active units through its chain s_G <= tr Cov_w(P^T mu) <= sum_u Var_w <= sum_u Var_unbiased,
on codes built to sit near the 0.01 threshold. A wrong bound (sub-threshold units ignored)
is caught. The estimators' plumbing (minibatches, chunked loops, z drawn from a seed, the
spread's loop) against plain scipy references; the weighted and the overflow-rescaled unit
variances against exact rational arithmetic.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import Phase, example, given, settings
from hypothesis import strategies as st
from scipy.special import logsumexp
from scipy.stats import multivariate_normal, norm

import witness_theory as wt
import witness_theory.collapse_metrics as cm
from witness_theory.theorems import T8

from .strategies import InstanceSpec, assert_close, assert_le, assert_ledger, build_instance, count_example, instances, seeds

torch.set_num_threads(1)


@st.composite
def posteriors(draw, max_n=24, max_d=6):
    n = draw(st.integers(2, max_n), label="N")
    d = draw(st.integers(1, max_d), label="d")
    seed = draw(seeds, label="seed")
    spread = draw(st.sampled_from([0.0, 1e-6, 0.1, 1.0, 5.0]), label="mean spread")
    lv_spread = draw(st.sampled_from([0.0, 0.1, 1.0]), label="log-variance spread")
    rng = np.random.default_rng(seed)
    mu = rng.normal(size=(1, d)) + spread * rng.normal(size=(n, d))
    lv = rng.normal(size=(1, d)) * 0.5 + lv_spread * rng.normal(size=(n, d))
    return mu, lv, seed


@given(post=posteriors(), batch=st.sampled_from([1, 7, 128]))
def test_he_estimator_matches_empirical_and_matched_form_is_consistent(post, batch):
    count_example()
    from empirical.training.metrics import _mi_on
    mu, lv, seed = post
    z = cm._draw(mu, lv, np.random.default_rng(seed + 1))
    he = cm.he_mutual_information(mu, lv, z=z, batch_size=batch)
    ref = _mi_on(torch.from_numpy(mu), torch.from_numpy(lv), torch.from_numpy(z))
    # same formula, numpy vs torch float64: both expand the quadratic form (cancellation
    # ~eps (|z|^2 + |mu|^2) / v), 1e-9 relative to the size of the log-densities
    size = 1.0 + float(np.max((z ** 2 + mu ** 2) * np.exp(-lv)).sum() + np.abs(lv).sum())
    assert_close("MI He numpy == empirical torch (full)", he["mi_full"], ref, 1e-9 * size)
    # matched - He = mean_i [log q(z_i|x_i) + H(q(.|x_i))]: scipy's density and norm.entropy
    mt = cm.matched_mutual_information(mu, lv, z=z, batch_size=batch)
    own = np.array([multivariate_normal(mu[i], np.diag(np.exp(lv[i]))).logpdf(z[i]) for i in range(len(mu))])
    ent = norm.entropy(scale=np.exp(0.5 * lv)).sum(axis=1)
    assert_close("MI matched - He == mean(log q(z_i|x_i) + H_i)", mt["mi_full"] - he["mi_full"],
                 float(np.mean(own + ent)), 1e-9 * size)
    assert_le("MI matched <= log M", mt["mi_full"], math.log(len(mu)), 1e-12)


@given(n=st.integers(2, 60), d=st.integers(1, 8), seed=seeds)
def test_matched_form_is_exactly_zero_at_collapse(n, d, seed):
    """Identical posteriors: the matched estimator is exactly 0 (every log ratio is 0 bit for
    bit); He et al.'s reports noise whose size the spread shows."""
    count_example()
    rng = np.random.default_rng(seed)
    mu = np.repeat(rng.normal(size=(1, d)), n, 0)
    lv = np.repeat(rng.normal(size=(1, d)), n, 0)
    mt = cm.matched_mutual_information(mu, lv, seed=seed, batch_size=7)
    assert mt["mi_full"] == 0.0 and mt["mi_minibatch"] == 0.0
    assert cm.mean_gaussian_kl(mu, lv) >= 0.0


def test_he_estimator_at_collapse_is_flagged_as_noise():
    """The issue's case: a collapsed model (mean KL ~ 4e-4) where He et al.'s one-sample
    estimate is noise far above the mean KL (flagged), while the matched form is ~0."""
    rng = np.random.default_rng(0)
    n, d = 2000, 16
    mu = 0.01 * rng.normal(size=(n, d))
    lv = 0.001 * rng.normal(size=(n, d))
    kl = cm.mean_gaussian_kl(mu, lv)
    spread = cm.mutual_information_spread(mu, lv, repeats=5, seed=3)
    he = spread["he_minibatch"]
    mt = spread["matched_minibatch"]
    print(f"mean KL {kl:.2e}; He {he['mean']:.3g} +- {he['std']:.2g}; matched {mt['mean']:.3g} +- {mt['std']:.2g}")
    flags = [cm.mi_noise_flag(v, mu, lv)["estimator_noise"] for v in he["values"]]
    assert any(flags)                       # He's estimate exceeds the bound: noise, flagged
    assert he["std"] > 10 * kl              # its own spread dwarfs the true MI (<= mean KL)
    assert mt["mean"] <= kl + 4 * mt["std"] / math.sqrt(5)   # matched: consistent with MI <= mean KL


def test_matched_full_mean_respects_mi_le_mean_kl():
    """E_z[matched full] = I_q(x; z) exactly for the rows given, and I_q <= mean KL: the mean of
    R = 64 seeded draws stays below mean KL + 4 standard errors (fixed seed: deterministic)."""
    rng = np.random.default_rng(1)
    mu = rng.normal(size=(60, 3)) * 0.5
    lv = rng.normal(size=(60, 3)) * 0.3 - 0.5
    s = cm.mutual_information_spread(mu, lv, repeats=64, seed=2, full=True)["matched_full"]
    kl = cm.mean_gaussian_kl(mu, lv)
    assert s["mean"] <= kl + 4 * s["std"] / 8.0, (s["mean"], kl)


# ------------------------------------------------------------------ active-unit bound (T8)

def _near_threshold_codes(inst, seed, target_var):
    """Exact codes (or Gaussian ones) rescaled so that the largest unit variance is target_var."""
    rng = np.random.default_rng(seed)
    base = wt.exact_embedding(inst.T, inst.witness) if np.all(inst.T > 0) else rng.normal(size=(inst.N, inst.d))
    var = base.var(axis=0, ddof=1).max() if inst.N > 1 else 0.0
    return base * (math.sqrt(target_var / var) if var > 0 else 1.0) + rng.normal(size=base.shape) * 1e-9


@given(inst=instances(full_support=False, min_N=2, max_K=16, max_N=48), seed=seeds,
       target=st.sampled_from([0.005, 0.0099, 0.02, 0.1, 1.0, 10.0]))
@example(inst=build_instance(InstanceSpec(seed=1, N=48, K=16, extra_d=8, beta=20.0, floor=1e-3,
                                          weight_kind="none")), seed=0, target=0.0099)
def test_t8_active_unit_bound(inst, seed, target):
    mu = _near_threshold_codes(inst, seed, target)
    assert_ledger(T8.check(inst.T, mu, inst.witness, inst.w), "T8 ledger (active units)")
    G = wt.certificate_margin(inst.T, mu, inst.witness, inst.w)
    if G <= 0:
        return
    w = inst.weights
    # the chain of the bound, each link on its own: s_G <= tr Cov_w(P^T mu) <= sum_u Var_w <= sum Var_unbiased
    s = wt.certified_spread(G, inst.witness)
    z = mu @ inst.witness.P
    tr_sub = float(w @ ((z - w @ z) ** 2).sum(1))
    var_w = w @ (mu - w @ mu) ** 2
    assert_le("AU chain s_G <= tr Cov_w(P^T mu)", s, tr_sub, 1e-9 * (1 + tr_sub))
    assert_le("AU chain tr Cov_w(P^T mu) <= sum Var_w", tr_sub, float(var_w.sum()), 1e-9 * (1 + tr_sub))
    if inst.w is None:
        var_u = mu.var(axis=0, ddof=1)
        assert_le("AU chain sum Var_w <= sum Var_unbiased", float(var_w.sum()), float(var_u.sum()), 1e-12 * (1 + var_u.sum()))
        au = int((var_u >= 0.01).sum())
        assert au >= cm.active_units_lower_bound(G, inst.witness, var_u)


def _wrong_bound(margin, witness, var, threshold=0.01):
    """WRONG: AU >= ceil(s_G / V_max), forgetting that sub-threshold units carry variance too."""
    s = wt.certified_spread(margin, witness)
    return int(math.ceil(s / var.max())) if s > 0 else 0


def test_bound_ignoring_subthreshold_units_is_caught():
    found = []

    @settings(phases=[Phase.generate], database=None, report_multiple_bugs=False)
    @given(inst=instances(full_support=True, min_N=2, max_K=16, max_N=48, weight_kinds=["none"]), seed=seeds)
    def run(inst, seed):
        count_example()
        mu = _near_threshold_codes(inst, seed, 0.0099)
        G = wt.certificate_margin(inst.T, mu, inst.witness)
        au, var = cm.active_units(mu)
        if au < _wrong_bound(G, inst.witness, var):
            found.append((inst, au, _wrong_bound(G, inst.witness, var), cm.active_units_lower_bound(G, inst.witness, var)))
            raise AssertionError("wrong active-unit bound violated")

    with pytest.raises(AssertionError):
        run()
    inst, au, wrong, right = found[-1]
    print(f"caught on {inst}: AU = {au} < wrong bound {wrong}; the right bound is {right}")
    assert au >= right


# ------------------------------------------------------------------ the estimators' plumbing (issue 25)
# mutmut on collapse_metrics.py (2026-12-06) left these paths unchecked: the minibatch split, the
# chunked loops, the draw of z from a seed, the weighted variance, the overflow rescaling of the
# active units, the noise flag's strict comparison and mutual_information_spread's bookkeeping.

def _log_density_reference(z, mu, lv):
    """log N(z_i; mu_j, diag exp(lv_j)) for every pair, from scipy's per-coordinate normal density
    (the quadratic form not expanded: an independent route to collapse_metrics' one product)."""
    return norm.logpdf(z[:, None, :], mu[None], np.exp(0.5 * lv)[None]).sum(axis=2)


def _he_reference(mu, lv, z):
    ent = norm.entropy(scale=np.exp(0.5 * lv)).sum(axis=1)                 # H(q(.|x_i))
    return float(np.mean(-ent) - np.mean(logsumexp(_log_density_reference(z, mu, lv), axis=1) - math.log(len(mu))))


def _matched_reference(mu, lv, z):
    dens = _log_density_reference(z, mu, lv)
    return float(np.mean(np.diag(dens) - (logsumexp(dens, axis=1) - math.log(len(mu)))))


def _minibatch_reference(ref, mu, lv, z, batch):
    """Batches of ``batch`` consecutive rows (the last one shorter), each estimated on its own
    mixture, averaged with the batch sizes as weights."""
    n = len(mu)
    return sum(len(mu[a:a + batch]) * ref(mu[a:a + batch], lv[a:a + batch], z[a:a + batch])
               for a in range(0, n, batch)) / n


@given(post=posteriors(max_n=40), batch=st.sampled_from([1, 3, 7, 16, 128]))
def test_mi_estimators_minibatch_chunks_and_draws_against_a_plain_reference(post, batch):
    """Both estimators, minibatch and full, against plain scipy references (tolerance 1e-9 of the
    log-densities' size: the package expands the quadratic form, scipy does not, so they differ by
    cancellation ~eps (|z|^2 + |mu|^2) / v); the chunked loops (He with chunks of 3 rows, matched
    with 2 rows per block) against the same; z drawn from ``seed`` or ``rng`` is exactly
    mu + exp(log_var / 2) eps with eps = default_rng(seed).standard_normal((n, d))."""
    mu, lv, seed = post
    z = mu + np.exp(0.5 * lv) * np.random.default_rng(seed).standard_normal(mu.shape)
    size = 1.0 + float(np.max((z ** 2 + mu ** 2) * np.exp(-lv)).sum() + np.abs(lv).sum())
    for name, fn, ref in (("He", cm.he_mutual_information, _he_reference),
                          ("matched", cm.matched_mutual_information, _matched_reference)):
        out = fn(mu, lv, seed=seed, batch_size=batch)
        assert out == fn(mu, lv, z=z, batch_size=batch) == fn(mu, lv, rng=np.random.default_rng(seed), batch_size=batch)
        assert out["mi_batch_size"] == min(batch, len(mu)) and out["mi_full_size"] == len(mu)
        assert_close(f"MI {name} full == reference", out["mi_full"], ref(mu, lv, z), 1e-9 * size)
        assert_close(f"MI {name} minibatch == reference", out["mi_minibatch"],
                     _minibatch_reference(ref, mu, lv, z, batch), 1e-9 * size)
    assert_close("He chunks of 3 rows == reference", cm._he_on(mu, lv, z, chunk=3), _he_reference(mu, lv, z), 1e-9 * size)
    two_rows = 2 * len(mu) * mu.shape[1]                                      # max_elems: 2 rows per block
    assert_close("matched blocks of 2 rows == reference", cm._matched_on(mu, lv, z, max_elems=two_rows),
                 _matched_reference(mu, lv, z), 1e-9 * size)


def test_mutual_information_spread_is_its_documented_loop():
    """mutual_information_spread(repeats, seed, batch_size, full) is: one Generator seeded with
    ``seed``; for each repeat one z drawn from it, both estimators at that z with the same
    batch_size and full; per key the mean, the standard deviation with ddof = 1 (0.0 for one
    repeat) and the values. Exact equality: the same calls on the same z. Its defaults: 8 repeats,
    seed 0, batch_size 128, full False."""
    rng = np.random.default_rng(4)
    mu, lv = rng.normal(size=(150, 3)), rng.normal(size=(150, 3)) * 0.3
    got = cm.mutual_information_spread(mu, lv, repeats=3, seed=5, batch_size=7, full=True)
    gen, vals = np.random.default_rng(5), {k: [] for k in ("he_minibatch", "matched_minibatch", "he_full", "matched_full")}
    for _ in range(3):
        z = mu + np.exp(0.5 * lv) * gen.standard_normal(mu.shape)
        for est, fn in (("he", cm.he_mutual_information), ("matched", cm.matched_mutual_information)):
            out = fn(mu, lv, z=z, batch_size=7, full=True)
            vals[f"{est}_minibatch"].append(out["mi_minibatch"])
            vals[f"{est}_full"].append(out["mi_full"])
    assert got["repeats"] == 3 and got["batch_size"] == 7
    for k, v in vals.items():
        assert got[k] == {"mean": float(np.mean(v)), "std": float(np.std(v, ddof=1)), "values": v}, k
    default = cm.mutual_information_spread(mu, lv)
    assert default["repeats"] == 8 and default["batch_size"] == 128 and "he_full" not in default
    assert default == cm.mutual_information_spread(mu, lv, repeats=8, seed=0, batch_size=128, full=False)
    assert default != cm.mutual_information_spread(mu, lv, seed=1)
    one = cm.mutual_information_spread(mu, lv, repeats=1, seed=5)
    assert one["he_minibatch"]["std"] == 0.0 and one["matched_minibatch"]["std"] == 0.0
    two = cm.mutual_information_spread(mu, lv, repeats=2, seed=5)["he_minibatch"]
    assert two["std"] == float(np.std(two["values"], ddof=1)) > 0.0
    # the estimators' own defaults: minibatches of 128 rows, the full-data variant on; full=False drops it
    z = mu + np.exp(0.5 * lv) * np.random.default_rng(8).standard_normal(mu.shape)
    for fn in (cm.he_mutual_information, cm.matched_mutual_information):
        assert fn(mu, lv, z=z) == fn(mu, lv, z=z, batch_size=128, full=True)
        assert fn(mu, lv, z=z)["mi_batch_size"] == 128 and fn(mu, lv, z=z)["mi_full_size"] == 150
        off = fn(mu, lv, z=z, full=False)
        assert off["mi_full"] is None and off["mi_full_size"] is None


def test_noise_flag_is_strict_at_the_mean_kl():
    """mi_noise_flag flags mi > mean KL, strictly: an estimate equal to the mean KL is not noise."""
    rng = np.random.default_rng(6)
    mu, lv = rng.normal(size=(20, 2)), rng.normal(size=(20, 2))
    kl = cm.mean_gaussian_kl(mu, lv)
    assert cm.mi_noise_flag(kl, mu, lv)["estimator_noise"] is False
    assert cm.mi_noise_flag(float(np.nextafter(kl, np.inf)), mu, lv)["estimator_noise"] is True


def test_weighted_and_overflowing_unit_variances_are_exact():
    """active_units' variances against exact rational arithmetic (fractions.Fraction of the float
    inputs; tolerance 4 ulps relative: a few correctly rounded operations): weighted,
    sum_i w_i (mu_iu - mbar_u)^2 with mbar = sum_i w_i mu_iu, on codes offset by 1e3 (a sign error
    in the centring is 1e6 off); unbiased, on codes of size 1.2e154 whose squares' sum overflows
    float64 but whose variance (~1.6e308) does not: the rescaled route must return it, finite."""
    from fractions import Fraction as F

    rng = np.random.default_rng(7)
    codes = 1e3 + rng.normal(size=(9, 3))
    w = rng.dirichlet(np.ones(9))
    _, var = cm.active_units(codes, weights=w)
    for u in range(3):
        col, ws = [F(float(x)) for x in codes[:, u]], [F(float(x)) for x in w]
        total = sum(ws)
        mbar = sum(a * b for a, b in zip(ws, col)) / total
        exact = sum(a * (b - mbar) ** 2 for a, b in zip(ws, col)) / total
        assert abs(F(float(var[u])) - exact) <= 4 * np.finfo(float).eps * exact
    big = 1.2e154 * np.array([[1.0, -1.0], [-1.0, 1.0], [1.0, 0.5], [-1.0, -0.5], [1.0, 1.0],
                              [-1.0, -1.0], [1.0, 0.25], [-1.0, 0.0], [1.0, -0.25], [-1.0, 1.0]])
    with np.errstate(over="ignore"):
        assert not np.isfinite(big.var(axis=0, ddof=1)).all()                 # the naive route overflows
    # weighted: one row of 2e154 at weight 0.05, nine of 0 or 1e150 (a second unit): the deviation's square
    # (~3.6e308) overflows, the weighted variance (~1.9e307) does not
    heavy = np.zeros((10, 2))
    heavy[0] = [2e154, -2e154]
    heavy[1:, 1] = 1e150
    wb = np.r_[0.05, np.full(9, 0.95 / 9)]
    with np.errstate(over="ignore"):
        assert not np.isfinite((wb[:, None] * (heavy - wb @ heavy) ** 2).sum(axis=0)).all()
    _, var_w = cm.active_units(heavy, weights=wb)
    for u in range(2):
        col, ws = [F(float(x)) for x in heavy[:, u]], [F(float(x)) for x in wb]
        mbar = sum(a * b for a, b in zip(ws, col)) / sum(ws)
        exact = sum(a * (b - mbar) ** 2 for a, b in zip(ws, col)) / sum(ws)
        assert np.isfinite(var_w[u]) and abs(F(float(var_w[u])) - exact) <= 8 * np.finfo(float).eps * exact
    count, var = cm.active_units(big)
    for u in range(2):
        col = [F(float(x)) for x in big[:, u]]
        m = sum(col) / len(col)
        exact = sum((x - m) ** 2 for x in col) / (len(col) - 1)
        assert np.isfinite(var[u]) and abs(F(float(var[u])) - exact) <= 4 * np.finfo(float).eps * exact
    assert count == 2


def test_active_units_bound_with_every_unit_at_the_threshold_is_zero():
    """V_max equal to the threshold: no unit is above it, so the bound is 0 whatever the margin
    claims (the quotient's denominator V_max - delta is 0 there: the early return must catch it)."""
    witness = wt.Witness(3, 2, 1.0)
    assert cm.active_units_lower_bound(5.0, witness, np.array([0.01, 0.01])) == 0
    assert cm.active_units_lower_bound(5.0, witness, np.array([0.005, 0.01])) == 0


def test_estimators_take_one_row_refuse_none_and_need_a_source_of_z():
    """The row and z-source contract of every estimator: one row is a valid input (the matched form
    is exactly 0 there: the mixture is that one posterior), zero rows are refused naming ``mu``,
    and with neither ``rng``, ``seed`` nor ``z`` no z can be drawn (an error, not a silent draw).
    ``mutual_information_spread(seed=None)`` draws from fresh OS entropy: finite, and two calls
    differ (default_rng() takes 128 bits of OS entropy; two calls drawing the same values is a
    chance of about 2^-128)."""
    rng = np.random.default_rng(11)
    mu, lv = rng.normal(size=(1, 3)), rng.normal(size=(1, 3))
    for fn in (cm.he_mutual_information, cm.matched_mutual_information):
        out = fn(mu, lv, seed=0)
        assert out["mi_full_size"] == 1 and math.isfinite(out["mi_minibatch"])
        if fn is cm.matched_mutual_information:
            assert out["mi_minibatch"] == 0.0 and out["mi_full"] == 0.0
        with pytest.raises(ValueError, match="mu has no rows"):
            fn(np.zeros((0, 3)), np.zeros((0, 3)), seed=0)
        with pytest.raises(ValueError, match="pass a numpy Generator"):
            fn(mu, lv)
    mu, lv = rng.normal(size=(30, 2)), rng.normal(size=(30, 2))
    a, b = (cm.mutual_information_spread(mu, lv, repeats=2, seed=None) for _ in range(2))
    assert all(math.isfinite(x) for x in a["he_minibatch"]["values"] + a["matched_minibatch"]["values"])
    assert a["he_minibatch"]["values"] != b["he_minibatch"]["values"]


_LSE_ENTRIES = st.one_of(st.floats(-800, 800, width=64), st.sampled_from([0.0, 1.0, -1.0, -np.inf, np.inf, np.nan]),
                         st.floats(allow_nan=True, allow_infinity=True, width=64))


@given(rows=st.integers(1, 5), cols=st.integers(1, 8), data=st.data())
@example(rows=1, cols=3, data=None)
def test_logsumexp_rows_is_scipys_bit_for_bit(rows, cols, data):
    """collapse_metrics.logsumexp_rows (the MI estimators' log sum exp, written out for speed) gives the
    floats of scipy.special.logsumexp(a, axis=1) bit for bit, NaN where scipy gives NaN: on entries of any
    size, ties for the row's max (drawn from a few values), -inf, +inf and NaN. Exact: the same
    operations in the same order on the same floats (scipy 1.17's algorithm; another scipy version may
    round its steps differently, and then this property says so)."""
    count_example()
    if data is None:   # a tie for the max, a -inf and a finite entry: the maxima taken out of the sum
        a = np.array([[2.0, 2.0, -np.inf]])
    else:
        a = np.array(data.draw(st.lists(_LSE_ENTRIES, min_size=rows * cols, max_size=rows * cols)),
                     dtype=np.float64).reshape(rows, cols)
    with np.errstate(all="ignore"):
        want = logsumexp(a, axis=1)
    got = cm.logsumexp_rows(a)
    assert got.shape == want.shape == (a.shape[0],)
    nan = np.isnan(want)
    np.testing.assert_array_equal(np.isnan(got), nan)
    np.testing.assert_array_equal(got[~nan].view(np.int64), want[~nan].view(np.int64))   # bit for bit, -0.0 too
