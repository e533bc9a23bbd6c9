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

from ._validation import as_float_array

__all__ = ["linear_vae_elbo", "LinearVAEOptimum", "linear_vae_optimum", "linear_vae_optimal_elbo",
           "linear_vae_active_count"]

_LOG_2PI = float(np.log(2 * np.pi))


def _moments(data_mean, data_cov):
    C = as_float_array(data_cov, "data_cov", 2)
    if C.shape[0] != C.shape[1]:
        raise ValueError(f"data_cov must be square (D, D), got {C.shape}")
    m = np.zeros(C.shape[0]) if data_mean is None else as_float_array(data_mean, "data_mean", 1)
    if m.shape[0] != C.shape[0]:
        raise ValueError(f"data_mean has {m.shape[0]} entries but data_cov is {C.shape}")
    return m, 0.5 * (C + C.T)


def linear_vae_elbo(W, b, V, e, log_s2, data_mean, data_cov, sigma2: float, kl_weight: float = 1.0) -> float:
    """Exact data-averaged ELBO_b of the linear VAE (closed-form expectations; module docstring).
    Shapes: W (D, d), b (D,), V (d, D), e (d,), log_s2 (d,) = log of the encoder variances."""
    m, C = _moments(data_mean, data_cov)
    W, V = as_float_array(W, "W", 2), as_float_array(V, "V", 2)
    b, e, log_s2 = (as_float_array(x, n, 1) for x, n in ((b, "b"), (e, "e"), (log_s2, "log_s2")))
    D = C.shape[0]
    s2 = np.exp(log_s2)
    R = np.eye(D) - W @ V                                              # (D, D): x -> residual map
    r_mean = R @ m - W @ e - b                                         # mean residual
    # E_x E_q ||x - W z - b||^2 = ||r_mean||^2 + tr(R C R^T) + tr(W diag(s^2) W^T)
    sq = r_mean @ r_mean + np.trace(R @ C @ R.T) + float(((W ** 2) * s2).sum())
    rec = -0.5 * D * (_LOG_2PI + np.log(sigma2)) - sq / (2 * sigma2)
    mu_mean = V @ m + e
    # E_x KL(N(Vx + e, diag s^2) || N(0, I)) = (1/2) sum_j [E mu_j^2 + s_j^2 - 1 - log s_j^2]
    kl = 0.5 * float((mu_mean ** 2 + np.einsum("jk,kl,jl->j", V, C, V) + np.expm1(log_s2) - log_s2).sum())
    return float(rec - kl_weight * kl)


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
    lam = np.sort(as_float_array(eigenvalues, "eigenvalues", 1))[::-1]
    D = lam.shape[0]
    s2p = kl_weight * sigma2                                           # s'^2 = b sigma^2
    act = np.zeros(D, dtype=bool)
    act[:d] = lam[:d] > s2p
    elbo1 = -0.5 * D * _LOG_2PI - 0.5 * (float((np.log(lam[act]) + 1).sum())
                                         + float((np.log(s2p) + lam[~act] / s2p).sum()))
    return float(kl_weight * elbo1 + 0.5 * kl_weight * D * (_LOG_2PI + np.log(s2p))
                 - 0.5 * D * (_LOG_2PI + np.log(sigma2)))


def linear_vae_active_count(eigenvalues, sigma2: float, kl_weight: float, d: int) -> int:
    """Number of active latents at the global optimum: #{j <= d : lambda_j > kl_weight sigma^2}."""
    lam = np.sort(as_float_array(eigenvalues, "eigenvalues", 1))[::-1]
    return int((lam[:d] > kl_weight * sigma2).sum())


def linear_vae_optimum(data_cov, sigma2: float, kl_weight: float, d: int, data_mean=None) -> LinearVAEOptimum:
    """The closed-form optimum: W = U_d (Lambda_d - b sigma^2)_+^{1/2}, b = m, encoder the exact
    posterior of the b = 1 model with decoder variance b sigma^2 (diagonal since W^T W is)."""
    m, C = _moments(data_mean, data_cov)
    if not (sigma2 > 0 and kl_weight > 0):
        raise ValueError("sigma2 and kl_weight must be > 0")
    lam, U = np.linalg.eigh(C)                                         # ascending
    lam, U = lam[::-1], U[:, ::-1]
    D = C.shape[0]
    if d > D:
        raise ValueError(f"d = {d} latents exceed the data dimension D = {D}")
    s2p = kl_weight * sigma2
    act = lam[:d] > s2p
    scale = np.sqrt(np.where(act, lam[:d] - s2p, 0.0))                 # (Lambda - s'^2)_+^{1/2}
    W = U[:, :d] * scale                                               # (D, d)
    Mdiag = scale ** 2 + s2p                                           # W^T W + s'^2 I (diagonal)
    V = (W / Mdiag).T                                                  # M^{-1} W^T: (d, D)
    e = -V @ m
    log_s2 = np.log(s2p / Mdiag)                                       # s'^2 M^{-1}: 1 where inactive
    log_s2[~act] = 0.0
    return LinearVAEOptimum(W=W, b=m.copy(), V=V, e=e, log_s2=log_s2, eigenvalues=lam, active=act,
                            elbo=linear_vae_optimal_elbo(lam, sigma2, kl_weight, d))
