"""T12: the collapse threshold of a linear Gaussian VAE with a KL weight (Lucas et al. 2019).

Model. Prior p(z) = N(0, I_d); decoder p(x|z) = N(W z + b, sigma^2 I_D) with FIXED sigma^2;
encoder q(z|x) = N(V x + e, diag(s^2)) with a linear mean and a diagonal variance that does
not depend on x (Lucas et al. 2019, "Don't blame the ELBO!", Sec. 4). Objective: the
beta-weighted ELBO averaged over the data, ELBO_b = E_x[E_q log p(x|z) - b KL(q(z|x)||p(z))],
b = kl_weight. It depends on the data only through its mean m and covariance C (1/N).

Exact ELBO (closed-form expectations, :func:`linear_vae_elbo`):

    E_x E_q ||x - W z - b||^2 = ||(I - W V) m - W e - b||^2 + tr((I - W V) C (I - W V)^T) + tr(W diag(s^2) W^T)
    E_x E_q log p(x|z) = -(D/2) log(2 pi sigma^2) - (1 / (2 sigma^2)) E_x E_q ||x - W z - b||^2
    E_x KL = (1/2) sum_j [(V m + e)_j^2 + (V C V^T)_jj + s_j^2 - 1 - log s_j^2]

Derivation (checked; docs/theory.md T12). Dividing by b, ELBO_b / b equals the b = 1 ELBO with
decoder variance b sigma^2 up to a constant that no parameter changes:

    ELBO_b(theta; sigma^2) = b ELBO_1(theta; b sigma^2) + (b D / 2) log(2 pi b sigma^2) - (D / 2) log(2 pi sigma^2),

so both have the same maximisers. For b = 1 and a fixed decoder variance s'^2, the ELBO of a
linear VAE is at most the marginal log-likelihood of probabilistic PCA with the same W, b,
which is maximised at W = U_d (Lambda_d - s'^2 I)_+^{1/2} R (Tipping & Bishop 1999, with
s'^2 fixed: a column is nonzero only where lambda_j > s'^2), and the ELBO attains it there
when R makes W^T W diagonal (then the exact posterior N(M^{-1} W^T (x - m), s'^2 M^{-1}),
M = W^T W + s'^2 I, is diagonal and the encoder represents it; Lucas et al. 2019, Thm 1).
Hence at the global optimum latent j (of the d largest eigenvalues lambda_1 >= ... of C) is
active iff lambda_j > b sigma^2, and

    max ELBO_1(s'^2) = -(D/2) log 2 pi - (1/2) [ sum_{j active} (log lambda_j + 1)
                                                + sum_{j inactive} (log s'^2 + lambda_j / s'^2) ],

the inactive set including every eigenvalue beyond the d largest. The issue's statement is
right, with two precisions: only the d largest eigenvalues can be active (at most d latents),
and lambda_j = b sigma^2 exactly gives a zero column (inactive). At the optimum the encoder
mean of an active latent has Var_x = 1 - b sigma^2 / lambda_j, its variance s_j^2 = b sigma^2 / lambda_j;
an inactive latent has mean 0 and variance 1 (its posterior is the prior: collapse).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .validation import as_float_array, check_finite_number, check_integer, check_nonneg_number

__all__ = ["linear_vae_elbo", "LinearVAEOptimum", "linear_vae_optimum", "linear_vae_optimal_elbo",
           "linear_vae_active_count"]

_LOG_2PI = float(np.log(2 * np.pi))
# data_cov must be symmetric to max |C - C^T| <= SYM_RTOL max |C| (rounding in (1/N) X^T X is
# ~N eps) and positive semi-definite to lambda_min >= -PSD_RTOL max |lambda| (eigh's rounding is
# ~D eps ||C||); within them C is symmetrised and the rounding-negative eigenvalues are inactive.
SYM_RTOL = 1e-8
PSD_RTOL = 1e-8


def _moments(data_mean, data_cov, check_psd: bool = True):
    C = as_float_array(data_cov, "data_cov", 2)
    if C.shape[0] != C.shape[1] or C.shape[0] == 0:
        raise ValueError(f"data_cov must be a square (D, D) covariance matrix with D >= 1, got shape {C.shape}")
    with np.errstate(over="ignore"):
        asym, top = float(np.abs(C - C.T).max()), float(np.abs(C).max())
    if asym > SYM_RTOL * top:
        raise ValueError(f"data_cov is not symmetric (max |C - C^T| = {asym:.3g}, max |C| = {top:.3g}); "
                         "pass a covariance matrix, e.g. (C + C.T) / 2")
    m = np.zeros(C.shape[0]) if data_mean is None else as_float_array(data_mean, "data_mean", 1)
    if m.shape[0] != C.shape[0]:
        raise ValueError(f"data_mean has {m.shape[0]} entries but data_cov is {C.shape}")
    # (C + C^T) / 2 without overflow near 1e308: 0.5 C + 0.5 C^T is the same number otherwise
    S = 0.5 * C + 0.5 * C.T
    if check_psd:
        _check_spectrum(np.linalg.eigvalsh(S), "data_cov")
    return m, S


def _check_spectrum(lam: np.ndarray, name: str) -> None:
    """Eigenvalues of a covariance: finite and >= 0 up to rounding (PSD_RTOL)."""
    if not np.isfinite(lam).all():
        raise ValueError(f"{name} is too large: its eigenvalues overflow float64; rescale the data")
    top = float(np.abs(lam).max())
    low = float(lam.min())
    if low < -PSD_RTOL * top:
        what = "has a negative eigenvalue" if name == "data_cov" else "has a negative entry"
        raise ValueError(f"{name} {what} ({low:.3g}, largest |eigenvalue| {top:.3g}): a covariance is positive "
                         "semi-definite; pass (1/N) sum_i (x_i - m)(x_i - m)^T or its spectrum")


def _spectrum(eigenvalues) -> np.ndarray:
    """The spectrum of a covariance, decreasing: 1-D, nonempty, >= 0 up to rounding."""
    lam = as_float_array(eigenvalues, "eigenvalues", 1)
    if lam.size == 0:
        raise ValueError("eigenvalues is empty; pass the D eigenvalues of the data covariance")
    _check_spectrum(lam, "eigenvalues")
    return np.sort(lam)[::-1]


def _noise(sigma2, kl_weight) -> tuple[float, float, float]:
    """sigma2 > 0 and kl_weight > 0, finite, and b sigma^2 = kl_weight * sigma2 within float64's range."""
    sigma2 = check_finite_number(sigma2, "sigma2", positive=True)
    kl_weight = check_finite_number(kl_weight, "kl_weight", positive=True)
    s2p = kl_weight * sigma2
    if not 0 < s2p < np.inf:
        raise ValueError(f"kl_weight * sigma2 = {kl_weight!r} * {sigma2!r} is outside float64's range; "
                         "rescale the data so that sigma2 is nearer 1")
    return sigma2, kl_weight, s2p


def _check_latents(d) -> int:
    return check_integer(d, "d (number of latents)", 1)


def _no_nan(value: float, fname: str, names: str) -> float:
    if np.isnan(value):
        raise ValueError(f"{fname} overflows float64 (inf - inf) for these {names}; rescale the data and parameters")
    return value


def linear_vae_elbo(W, b, V, e, log_s2, data_mean, data_cov, sigma2: float, kl_weight: float = 1.0) -> float:
    """Exact data-averaged ELBO_b of the linear VAE (closed-form expectations; module docstring).
    Shapes: W (D, d), b (D,), V (d, D), e (d,), log_s2 (d,) = log of the encoder variances."""
    m, C = _moments(data_mean, data_cov)
    W, V = as_float_array(W, "W", 2), as_float_array(V, "V", 2)
    b, e, log_s2 = (as_float_array(x, n, 1) for x, n in ((b, "b"), (e, "e"), (log_s2, "log_s2")))
    D = C.shape[0]
    d = W.shape[1]
    if W.shape[0] != D:
        raise ValueError(f"W has shape {W.shape} but data_cov is {C.shape}: W must be (D, d) with D = {D}")
    for name, arr, want in (("V", V, (d, D)), ("b", b, (D,)), ("e", e, (d,)), ("log_s2", log_s2, (d,))):
        if arr.shape != want:
            raise ValueError(f"{name} has shape {arr.shape} but must be {want} for W of shape {W.shape} (D = {D}, d = {d})")
    sigma2 = check_finite_number(sigma2, "sigma2", positive=True)
    kl_weight = check_nonneg_number(kl_weight, "kl_weight")        # b = 0: the reconstruction term alone
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        s2 = np.exp(log_s2)
        R = np.eye(D) - W @ V                                              # (D, D): x -> residual map
        mu_mean = V @ m + e                                                # (d,) mean encoder mean
        # mean residual R m - W e - b, written as (m - b) - W (V m + e): each bracket is a difference
        # of two terms of size |m| that cancel at the optimum (b = m, e = -V m), exactly so here.
        # Expanded, R m - W e - b summed four terms of size |m|; a data mean of 1e14 left a rounding
        # error of ~1e14 eps ~ 0.02 in r_mean, squared into the ELBO, and T12 reported a violation.
        r_mean = (m - b) - W @ mu_mean
        # E_x E_q ||x - W z - b||^2 = ||r_mean||^2 + tr(R C R^T) + tr(W diag(s^2) W^T)
        sq = r_mean @ r_mean + np.trace(R @ C @ R.T) + float(((W ** 2) * s2).sum())
        rec = -0.5 * D * (_LOG_2PI + np.log(sigma2)) - sq / (2 * sigma2)
        # E_x KL(N(Vx + e, diag s^2) || N(0, I)) = (1/2) sum_j [E mu_j^2 + s_j^2 - 1 - log s_j^2]
        kl = 0.5 * float((mu_mean ** 2 + np.einsum("jk,kl,jl->j", V, C, V) + np.expm1(log_s2) - log_s2).sum())
        # b = 0 with kl = inf: the KL term is absent (0 * inf would be NaN)
        elbo = float(rec - kl_weight * kl) if kl_weight else float(rec)
    return _no_nan(elbo, "linear_vae_elbo", "W, V, log_s2, data_cov, sigma2 and kl_weight")


@dataclass(frozen=True)
class LinearVAEOptimum:
    """Closed-form global optimum of ELBO_b (R = I): parameters, the active latents and the value."""
    W: np.ndarray
    b: np.ndarray
    V: np.ndarray
    e: np.ndarray
    log_s2: np.ndarray
    eigenvalues: np.ndarray     # of C, decreasing (D,)
    active: np.ndarray          # (d,) bool: lambda_j > kl_weight sigma^2 (j < d)
    elbo: float                 # the closed-form optimal value


def linear_vae_optimal_elbo(eigenvalues, sigma2: float, kl_weight: float, d: int) -> float:
    """max ELBO_b from the spectrum alone (module docstring): b ELBO_1(b sigma^2) + constant."""
    lam = _spectrum(eigenvalues)
    sigma2, kl_weight, s2p = _noise(sigma2, kl_weight)                 # s'^2 = b sigma^2
    d = _check_latents(d)
    D = lam.shape[0]
    act = np.zeros(D, dtype=bool)
    act[:d] = lam[:d] > s2p
    with np.errstate(over="ignore", invalid="ignore"):
        elbo1 = -0.5 * D * _LOG_2PI - 0.5 * (float((np.log(lam[act]) + 1).sum())
                                             + float((np.log(s2p) + lam[~act] / s2p).sum()))
        elbo = float(kl_weight * elbo1 + 0.5 * kl_weight * D * (_LOG_2PI + np.log(s2p))
                     - 0.5 * D * (_LOG_2PI + np.log(sigma2)))
    return _no_nan(elbo, "linear_vae_optimal_elbo", "eigenvalues, sigma2 and kl_weight")


def linear_vae_active_count(eigenvalues, sigma2: float, kl_weight: float, d: int) -> int:
    """Number of active latents at the global optimum: #{j <= d : lambda_j > kl_weight sigma^2}."""
    lam = _spectrum(eigenvalues)
    _, _, s2p = _noise(sigma2, kl_weight)
    d = _check_latents(d)
    return int((lam[:d] > s2p).sum())


def linear_vae_optimum(data_cov, sigma2: float, kl_weight: float, d: int, data_mean=None) -> LinearVAEOptimum:
    """The closed-form optimum: W = U_d (Lambda_d - b sigma^2)_+^{1/2}, b = m, encoder the exact
    posterior of the b = 1 model with decoder variance b sigma^2 (diagonal since W^T W is)."""
    m, C = _moments(data_mean, data_cov, check_psd=False)             # checked below on eigh's spectrum
    sigma2, kl_weight, s2p = _noise(sigma2, kl_weight)
    d = _check_latents(d)
    D = C.shape[0]
    if d > D:
        raise ValueError(f"d = {d} latents exceed the data dimension D = {D}")
    lam, U = np.linalg.eigh(C)                                         # ascending
    _check_spectrum(lam, "data_cov")
    lam, U = lam[::-1], U[:, ::-1]
    act = lam[:d] > s2p
    scale = np.sqrt(np.where(act, lam[:d] - s2p, 0.0))                 # (Lambda - s'^2)_+^{1/2}
    W = U[:, :d] * scale                                               # (D, d)
    Mdiag = scale ** 2 + s2p                                           # W^T W + s'^2 I (diagonal)
    V = (W / Mdiag).T                                                  # M^{-1} W^T: (d, D)
    e = -V @ m
    log_s2 = np.log(s2p / Mdiag)                                       # s'^2 M^{-1}: 1 where inactive
    log_s2[~act] = 0.0
    for name, arr in (("W", W), ("V", V), ("e", e), ("log_s2", log_s2)):
        if np.isnan(arr).any():
            raise ValueError(f"the optimum's {name} overflows float64 (inf - inf) for these data_cov, data_mean, "
                             "sigma2 and kl_weight; rescale the data")
    return LinearVAEOptimum(W=W, b=m.copy(), V=V, e=e, log_s2=log_s2, eigenvalues=lam, active=act,
                            elbo=linear_vae_optimal_elbo(lam, sigma2, kl_weight, d))
