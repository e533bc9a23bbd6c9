"""Honest collapse metrics, float64 NumPy references (issue 11, part 4).

Mutual information I_q(x; z) between the data index and the latent of a Gaussian encoder
q(z|x_i) = N(mu_i, diag exp(log_var_i)), over the empirical data distribution (x uniform on
the rows, the aggregate posterior q(z) = (1/M) sum_j q(z|x_j)):

- :func:`he_mutual_information`: the estimator of He et al. (2019, "Lagging inference networks"),
  the same maths as ``empirical.metrics.mutual_information`` so the numbers are comparable:
  E_i[-H(q(z|x_i))] (analytic entropy) - E_i[log q(z_i)], ONE z_i ~ q(z|x_i) per row. Its two
  terms use different information (an analytic expectation against one sample), so at exact
  collapse (all posteriors equal) it reports Monte Carlo noise, not 0.
- :func:`matched_mutual_information`: the matched-sample form E_i[log q(z_i|x_i) - log q(z_i)]
  at the SAME z_i. It is exactly 0 when every posterior is the same (every log ratio is 0 to
  the last bit), and its expectation over the draws is exactly I_q(x; z) for the rows given.
- :func:`mutual_information_spread`: both estimators over R independent draws (mean, standard
  deviation, values): the estimator's own Monte Carlo spread.
- :func:`mi_noise_flag`: I_q(x; z) = E_x KL(q(z|x) || p(z)) - KL(q(z) || p(z)) <= E_x KL(q(z|x) || p(z))
  (Hoffman & Johnson 2016, "ELBO surgery"), so an estimate above the mean KL is estimator noise.

z is drawn from a ``numpy.random.Generator`` the caller passes (or seeds with ``seed``): each
run draws its own z from its own seed, so the spread over seeds includes the estimator's noise.

Active units: :func:`active_units_lower_bound` is the lower bound on the number of active units
that T8 implies for a certified margin (derivation in docs/theory.md, T8):

    s_G = (G_T/beta)^2 / (2 kappa) <= tr Cov_w(P^T mu) <= tr Cov_w(mu) = sum_u Var_w(mu_u)
        <= sum_u Var(mu_u) < AU V_max + (d - AU) delta,

(P P^T <= I since P has orthonormal columns; Var is the variance the AU count uses -- the
unbiased one dominates the 1/N one of uniform weights; active units have Var >= delta, the
others < delta; V_max = max_u Var(mu_u)), so AU >= (s_G - d delta) / (V_max - delta) when
V_max > delta, and AU >= 1 as soon as s_G >= d delta.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from . import core
from .validation import as_float_array, check_finite_number, check_integer, check_nonneg_number, check_weights

__all__ = ["he_mutual_information", "matched_mutual_information", "mutual_information_spread",
           "mi_noise_flag", "mean_gaussian_kl", "active_units", "active_units_lower_bound",
           "ACTIVE_UNIT_THRESHOLD"]

#: Var_x(mu_u) threshold for an active unit (Burda et al. 2016), as in empirical.metrics.
ACTIVE_UNIT_THRESHOLD = 0.01
_LOG_2PI = math.log(2 * math.pi)
#: Most draws mutual_information_spread takes (each is a full pass of both estimators).
MAX_REPEATS = 10 ** 6


def _codes(mu, log_var):
    m = as_float_array(mu, "mu", 2)
    lv = as_float_array(log_var, "log_var", 2)
    if lv.shape != m.shape:
        raise ValueError(f"log_var has shape {lv.shape} but mu has shape {m.shape}")
    if m.shape[0] == 0:
        raise ValueError(f"mu has no rows (shape {m.shape}); pass at least one encoder mean")
    return m, lv


def _generator(rng, seed) -> np.random.Generator | None:
    """The Generator z is drawn from: ``rng``, else one seeded with ``seed``, else None. Both are
    checked even where the other (or a given z) makes them unused: a bad one is never ignored."""
    if rng is not None and not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator (np.random.default_rng(seed)) or None, "
                        f"got {type(rng).__name__}")
    seeded = None
    if seed is not None:
        if isinstance(seed, (bool, np.bool_)):
            raise TypeError(f"seed must be a non-negative integer (or a sequence of them), got {seed!r}")
        try:
            seeded = np.random.default_rng(seed)
        except (TypeError, ValueError) as exc:   # numpy's own type: ValueError for -1, TypeError for 2.5
            raise type(exc)(f"seed must be a non-negative integer (or a sequence of them), got {seed!r:.60} "
                            f"({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
    return rng if rng is not None else seeded


def _check_z(z, mu: np.ndarray) -> np.ndarray:
    arr = as_float_array(z, "z", 2)
    if arr.shape != mu.shape:
        raise ValueError(f"z has shape {arr.shape} but mu has shape {mu.shape}; pass one draw z_i per row of mu")
    return arr


def _check_full(full) -> bool:
    if not isinstance(full, (bool, np.bool_)):
        raise TypeError(f"full must be True or False, got {full!r:.60}")
    return bool(full)


def _check_estimate(value: float, *names: str) -> float:
    """NaN or +-inf from an estimator means its float64 terms overflowed (inf - inf, or a log
    density beyond float64): refuse it. Both estimators are finite for finite inputs (the matched
    one lies in [0, log M]; He et al.'s is a difference of finite means), so a non-finite value
    is never the estimate, and it would make the spread's standard deviation NaN."""
    if not np.isfinite(value):
        raise ValueError(f"the estimate overflows float64 (inf - inf or inf in the log densities) for these {', '.join(names)}; "
                         "rescale the codes (|mu|, exp(log_var) and z within ~1e150)")
    return value


def _draw(mu, log_var, rng):
    """One z_i ~ q(z|x_i) per row from ``rng`` (a Generator, checked by :func:`_generator`, which
    also turns a ``seed`` into one)."""
    if rng is None:
        raise ValueError("pass a numpy Generator (rng=) or a seed (seed=): z is drawn from the run's own seed")
    # z_i = mu_i + sigma_i eps_i, eps_i ~ N(0, I): one draw per row (reparameterisation)
    with np.errstate(over="ignore", invalid="ignore"):
        z = mu + np.exp(0.5 * log_var) * rng.standard_normal(mu.shape)
    if not np.isfinite(z).all():
        raise ValueError(f"z = mu + exp(log_var / 2) eps overflows float64 (largest log_var {float(log_var.max()):.3g}, "
                         f"largest |mu| {float(np.abs(mu).max()):.3g}); rescale the codes")
    return z


def logsumexp_rows(a: np.ndarray) -> np.ndarray:
    """log sum_j exp(a_ij) per row of a float64 (r, n) array: scipy.special.logsumexp(a, axis=1) (scipy
    1.17) written out with NumPy, step for step, so the same floats. Its algorithm (Blanchard, Higham &
    Higham 2021, IMA J. Numer. Anal. 41(4)): with a_max the row's max and m the number of entries equal
    to it, log1p(s / m) + log m + a_max, s = sum of exp(a_ij - a_max) over the other entries; where that
    is not finite (a row of -inf, +inf, NaN), log sum exp(a_ij) taken directly. Written out because
    scipy's array-API dispatch costs ~60-150 us a call, most of the MI estimators' time on the proofs'
    few-row inputs (one call per chunk of rows), and its copies made it ~3.6x slower on a (1024, 1797)
    chunk (digits); proofs/test_collapse_metrics.py checks it against scipy bit for bit."""
    # (over: exp of a large entry is inf, handled below; an entry below a_max by more than 1.8e308 gives
    # -inf, exp 0, as it should; scipy warns there)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        direct = np.log(np.add.reduce(np.exp(a), axis=1))                    # scipy's out_inf
        a_max = np.maximum.reduce(a, axis=1, keepdims=True)
        top = a == a_max
        m = np.add.reduce(top, axis=1, keepdims=True, dtype=np.float64)     # the maxima, taken out of the sum
        s = np.add.reduce(np.exp(np.where(top, -np.inf, a) - a_max), axis=1, keepdims=True)
        s = np.where(s == 0, s, s / m)
        sign = np.sign(s + 1) * np.sign(m)
        s = np.where(s < -1, -s - 2, s)
        out = (np.log1p(s) + np.log(np.abs(m)) + a_max)[:, 0]
    out[sign[:, 0] < 0] = np.nan
    return np.where(np.isfinite(out), out, direct)


def _log_density_pairs(z, mu, log_var):
    """log N(z_i; mu_j, diag exp(log_var_j)) for all pairs (len(z), len(mu)), the quadratic form
    expanded into ONE matrix product as in empirical.metrics.gaussian_log_density:
    log N = -(1/2) [d log 2 pi + sum_u log v_u + sum_u z^2/v - 2 z mu/v + mu^2/v]."""
    d = z.shape[1]
    inv_var = np.exp(-log_var)                                                    # (M, d)
    const = (mu ** 2 * inv_var).sum(1) + log_var.sum(1)                           # (M,)
    left = np.concatenate([z ** 2, z, np.ones((z.shape[0], 1))], axis=1)          # (Nz, 2d+1)
    right = np.concatenate([inv_var, -2 * mu * inv_var, const[:, None]], axis=1)  # (M, 2d+1)
    return -0.5 * (d * _LOG_2PI + left @ right.T)


def _he_on(mu, log_var, z, chunk=1024) -> float:
    """He et al. (2019) with the mixture over exactly the rows given (M = len(mu))."""
    n, d = mu.shape
    # E[-H(q(z|x))] = E[-(d/2) log 2 pi e - (1/2) sum log_var]
    neg_entropy = float(np.mean(-0.5 * d * _LOG_2PI - 0.5 * (1 + log_var).sum(1)))
    log_qz = [logsumexp_rows(_log_density_pairs(z[a:a + chunk], mu, log_var)) - math.log(n)
              for a in range(0, n, chunk)]
    return neg_entropy - float(np.mean(np.concatenate(log_qz)))


def _matched_on(mu, log_var, z, max_elems=2_000_000) -> float:
    """mean_i log [q(z_i|x_i) / ((1/M) sum_j q(z_i|x_j))] = -mean_i log mean_j exp(l_ij - l_ii),
    with l_ij - l_ii = -(1/2) [(L_j - L_i) + (Q_ij - Q_ii)], L_j = sum_u log v_ju and
    Q_ij = sum_u (z_iu - mu_ju)^2 / v_ju, each Q_ij summed term by term (not from the expanded
    product), and Q_ii read off the same (B, M) block as the Q_ij beside it: identical posteriors
    make L_j = L_i and Q_ij = Q_ii bit for bit, so they give exactly 0. The log-variance sums once
    per row instead of once per pair (~2.8x faster at 360 x 16, the per-epoch evaluation of a
    digits run), and the weighted sum over u is one einsum contraction (another ~1.7x,
    bench/bench_mi.py). Cost O(N M d) in chunks of rows (<= max_elems floats per temporary)."""
    n, d = mu.shape
    inv_var = np.exp(-log_var)
    L = log_var.sum(axis=1)                                                       # (M,) L_j
    rows = max(1, max_elems // max(1, n * d))
    out = []
    for a in range(0, n, rows):
        b = min(a + rows, n)
        q = z[a:b, None, :] - mu[None]                                            # (B, M, d)
        np.square(q, out=q)
        # Q_ij = sum_u q_iju / v_ju: the weighting and the sum over u in one contraction. einsum
        # sums each (i, j) pair by the same loop, so identical rows still give identical Q_ij; a
        # reduce along the short last axis (d = 16) costs one inner-loop call per pair
        Q = np.einsum("bmd,md->bm", q, inv_var)                                   # (B, M): Q_ij
        r = np.arange(b - a)
        own = Q[r, a + r]                                                         # (B,): Q_ii, same pass
        diff = -0.5 * ((L[None, :] - L[a:b, None]) + (Q - own[:, None]))         # (B, M): l_ij - l_ii
        out.append(logsumexp_rows(diff) - math.log(n))
    return -float(np.mean(np.concatenate(out)))


def _check_batch_size(batch_size) -> int:
    return check_integer(batch_size, "batch_size", 1)


def _batched(fn, mu, log_var, z, batch_size):
    batch_size = _check_batch_size(batch_size)
    n = mu.shape[0]
    total = 0.0
    for a in range(0, n, batch_size):
        sl = slice(a, a + batch_size)
        total += mu[sl].shape[0] * fn(mu[sl], log_var[sl], z[sl])
    return total / n


def he_mutual_information(mu, log_var, *, rng=None, seed=None, batch_size: int = 128, full: bool = True,
                          z=None) -> dict:
    """He et al. (2019) I_q(x; z): minibatch (weighted average over batches of ``batch_size``)
    and full-data variants, one z ~ q(z|x_i) per row from ``rng`` / ``seed`` (or the given z)."""
    return _estimate(_he_on, mu, log_var, rng, seed, batch_size, full, z)


def _estimate(fn, mu, log_var, rng, seed, batch_size, full, z) -> dict:
    m, lv = _codes(mu, log_var)
    gen = _generator(rng, seed)
    batch_size = _check_batch_size(batch_size)
    full = _check_full(full)
    z = _draw(m, lv, gen) if z is None else _check_z(z, m)
    names = ("mu", "log_var", "z")
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        mini = _check_estimate(_batched(fn, m, lv, z, batch_size), *names)
        whole = _check_estimate(fn(m, lv, z), *names) if full else None
    return {"mi_minibatch": mini, "mi_batch_size": int(min(batch_size, len(m))),
            "mi_full": whole, "mi_full_size": int(len(m)) if full else None}


def matched_mutual_information(mu, log_var, *, rng=None, seed=None, batch_size: int = 128, full: bool = True,
                               z=None) -> dict:
    """Matched-sample I_q(x; z) = mean_i [log q(z_i|x_i) - log (1/M) sum_j q(z_i|x_j)] at the same
    z_i: minibatch and full-data variants. Exactly 0 when all posteriors are the same; its
    expectation over z is exactly I_q(x; z) of the rows in the mixture (<= log M)."""
    return _estimate(_matched_on, mu, log_var, rng, seed, batch_size, full, z)


def mutual_information_spread(mu, log_var, *, repeats: int = 8, seed: int = 0, batch_size: int = 128,
                              full: bool = False) -> dict:
    """Both estimators over ``repeats`` independent z draws (a Generator seeded with ``seed``):
    per estimator and variant the mean, the standard deviation (ddof=1) and the values."""
    m, lv = _codes(mu, log_var)
    # float('inf') looped / overflowed; 10**9 repeats would run for days
    repeats = check_integer(repeats, "repeats", 1, MAX_REPEATS)
    _check_batch_size(batch_size)
    full = _check_full(full)
    rng = _generator(None, seed) if seed is not None else np.random.default_rng()
    vals: dict[str, list[float]] = {"he_minibatch": [], "matched_minibatch": [], "he_full": [], "matched_full": []}
    for _ in range(int(repeats)):
        z = _draw(m, lv, rng)
        he = he_mutual_information(m, lv, z=z, batch_size=batch_size, full=full)
        mt = matched_mutual_information(m, lv, z=z, batch_size=batch_size, full=full)
        vals["he_minibatch"].append(he["mi_minibatch"])
        vals["matched_minibatch"].append(mt["mi_minibatch"])
        if full:
            vals["he_full"].append(he["mi_full"])
            vals["matched_full"].append(mt["mi_full"])
    out: dict[str, Any] = {"repeats": int(repeats), "batch_size": int(min(batch_size, len(m)))}
    for k, v in vals.items():
        if v:
            arr = np.array(v)
            out[k] = {"mean": float(arr.mean()), "std": float(arr.std(ddof=1)) if len(arr) > 1 else 0.0,
                      "values": arr.tolist()}
    return out


def mean_gaussian_kl(mu, log_var) -> float:
    """E_x KL(q(z|x) || N(0, I)) = mean of core.gaussian_kl over the rows."""
    m, lv = _codes(mu, log_var)
    return float(np.mean(core.gaussian_kl(m, lv)))   # +inf where |mu| or exp(log_var) overflows; never NaN


def mi_noise_flag(mi_estimate: float, mu, log_var) -> dict:
    """Flag an MI estimate above the mean KL(q(z|x) || p(z)) as estimator noise: the true
    I_q(x; z) = E_x KL(q(z|x)||p(z)) - KL(q(z)||p(z)) <= E_x KL(q(z|x)||p(z)) (Hoffman & Johnson 2016)."""
    mi = check_finite_number(mi_estimate, "mi_estimate")
    kl = mean_gaussian_kl(mu, log_var)
    return {"mi": mi, "mean_kl": kl, "estimator_noise": bool(mi > kl)}


def active_units(codes, threshold: float = ACTIVE_UNIT_THRESHOLD, weights=None) -> tuple[int, np.ndarray]:
    """(number of units with Var(mu_u) >= threshold, the per-unit variances). Uniform weights
    (the default): the unbiased variance, as empirical.metrics.active_units; otherwise the
    weighted variance sum_i w_i (mu_iu - mbar_u)^2."""
    mu = as_float_array(codes, "codes", 2)
    delta = check_nonneg_number(threshold, "threshold")
    if weights is None:
        if mu.shape[0] < 2:
            raise ValueError(f"codes has {mu.shape[0]} row(s): active units need N >= 2 rows for an unbiased variance "
                             "(or pass weights for the weighted one)")
        w = None
    else:
        w = check_weights(weights, mu.shape[0])
    with np.errstate(over="ignore", invalid="ignore"):
        var = _variances(mu, w)
    if not np.isfinite(var).all():
        # |codes| near 1e308: the sums overflow (inf - inf = NaN); the variance of mu / s times s^2,
        # s the largest |entry| of the unit, is the same up to rounding and overflows only to +inf
        bad = ~np.isfinite(var)
        s = np.abs(mu[:, bad]).max(axis=0)
        with np.errstate(over="ignore"):
            var[bad] = (_variances(mu[:, bad] / s, w) * s) * s      # (v s) s: 0 * s^2 would be 0 * inf
    return int((var >= delta).sum()), var


def _variances(mu: np.ndarray, w: np.ndarray | None) -> np.ndarray:
    """Per-unit variance: unbiased (w None), else weighted sum_i w_i (mu_iu - mbar_u)^2."""
    if w is None:
        return mu.var(axis=0, ddof=1)
    mbar = core.weighted_mean(w, mu)
    return core.weighted_mean(w, (mu - mbar) ** 2)


def active_units_lower_bound(margin: float, witness: core.Witness, unit_variances,
                             threshold: float = ACTIVE_UNIT_THRESHOLD) -> int:
    """The least number of active units (Var >= threshold) consistent with a margin G_T (T8):
    ceil((s_G - d delta) / (V_max - delta)) with s_G = (G_T/beta)^2/(2 kappa), delta the threshold,
    V_max the largest unit variance (0 when not positive). ``unit_variances`` must dominate the
    weighted variances of T8 (the unbiased ones do for uniform weights).

    The division is rounded with a relative allowance of 1e-12 before ceil, so a quotient that
    is an integer up to rounding is not rounded up past it.
    """
    core.check_witness(witness)
    var = as_float_array(unit_variances, "unit_variances", 1)
    if var.shape[0] != witness.d:
        raise ValueError(f"unit_variances has {var.shape[0]} entries but the witness has d = {witness.d} latent units; "
                         "pass one variance per unit of the codes")
    if (var < 0).any():
        raise ValueError("unit_variances has negative entries; variances are >= 0")
    delta = check_nonneg_number(threshold, "threshold")
    s = core.certified_spread(margin, witness)
    d, vmax = var.shape[0], float(var.max())
    if s <= d * delta or vmax <= delta:
        return 0
    with np.errstate(over="ignore"):
        q = (s - d * delta) / (vmax - delta)
    if not np.isfinite(q):
        # s_G = inf (a margin beyond float64 at this witness_scale) or V_max - delta subnormal:
        # no codes with these unit variances can have this margin (s_G <= d V_max)
        raise ValueError(f"the margin certifies a spread s_G = {s!r} that the unit_variances (d = {d}, V_max = {vmax!r}, "
                         f"threshold {delta!r}) cannot hold: the bound overflows float64; pass the variances of the "
                         "codes that have this margin")
    return max(0, int(math.ceil(q * (1 - 1e-12) - 1e-12)))
