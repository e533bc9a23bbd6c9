"""Symbolic (sympy) proofs of the identities behind T1, T3, T4, T5, T6, T7 and T10.

Each test builds the objects exactly as ``witness_theory`` defines them (same formulas, exact
arithmetic) and simplifies the claimed identity to 0; T3 additionally compares the exact
vertices with the float64 ``simplex_vertices``. Sizes are small (sympy's simplification cost
grows quickly), which is exactly where a symbolic statement is a proof for that size.
"""
from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

import witness_theory as wt


def _kl(p, q):
    return sum(pk * (sp.log(pk) - sp.log(qk)) for pk, qk in zip(p, q))


def _simplex_rows(prefix: str, N: int, K: int):
    rows = []
    for i in range(N):
        free = list(sp.symbols(f"{prefix}{i}_0:{K - 1}", positive=True))
        rows.append(free + [1 - sum(free)])
    return rows


def sym_simplex_vertices(K: int) -> sp.Matrix:
    """V = sqrt(K/(K-1)) H, H the Helmert basis -- the construction of wt.simplex_vertices."""
    H = sp.zeros(K - 1, K)
    for j in range(1, K):
        for k in range(j):
            H[j - 1, k] = 1 / sp.sqrt(j * (j + 1))
        H[j - 1, j] = -sp.Integer(j) / sp.sqrt(j * (j + 1))
    return sp.sqrt(sp.Rational(K, K - 1)) * H


# ------------------------------------------------------------------------------------ T1

@pytest.mark.parametrize("N,K", [(2, 2), (2, 3)])
def test_t1_identity_symbolic(N, K):
    """sum_i w_i KL(T_i||q) - I_T - KL(Tbar||q) == 0 and I_T == H(Tbar) - sum_i w_i H(T_i)."""
    rows = _simplex_rows("t", N, K)
    w1 = sp.Symbol("w1", positive=True)
    w = [w1, 1 - w1]
    qf = list(sp.symbols(f"q0:{K - 1}", positive=True))
    q = qf + [1 - sum(qf)]
    tbar = [sum(w[i] * rows[i][k] for i in range(N)) for k in range(K)]
    info = sum(w[i] * _kl(rows[i], tbar) for i in range(N))
    lhs = sum(w[i] * _kl(rows[i], q) for i in range(N))
    assert sp.expand(lhs - info - _kl(tbar, q)) == 0
    H = lambda p: -sum(pk * sp.log(pk) for pk in p)  # noqa: E731
    assert sp.expand(info - (H(tbar) - sum(w[i] * H(rows[i]) for i in range(N)))) == 0


# ------------------------------------------------------------------------------------ T3

@pytest.mark.parametrize("K", range(2, 9))
def test_t3_exact_vertices(K):
    V = sym_simplex_vertices(K)
    kappa = sp.Rational(K, K - 1)
    C = sp.eye(K) - sp.ones(K, K) / K
    assert sp.simplify(V.T * V - kappa * C) == sp.zeros(K, K)
    assert sp.simplify(V * V.T - kappa * sp.eye(K - 1)) == sp.zeros(K - 1, K - 1)
    assert sp.simplify(V * sp.ones(K, 1)) == sp.zeros(K - 1, 1)          # vertices sum to 0
    # the float64 function is the same matrix to rounding (entries O(1): 1e-15 absolute)
    exact = np.array(V.evalf(30).tolist(), dtype=float)
    assert np.abs(wt.simplex_vertices(K) - exact).max() <= 1e-15


# --------------------------------------------------------------------------------- T4, T5

def _witness_setup(K: int, rotate: bool):
    """Symbolic A = P V with P the identity frame, or (K = 2, d = 2) a rotated frame [cos t, sin t]^T."""
    V = sym_simplex_vertices(K)
    if rotate:
        th = sp.Symbol("theta", real=True)
        P = sp.Matrix([[sp.cos(th)], [sp.sin(th)]])
    else:
        P = sp.eye(K - 1)
    return P, V, P * V


@pytest.mark.parametrize("K,rotate", [(2, False), (2, True), (3, False)])
def test_t4_t5_exact_code_symbolic(K, rotate):
    """softmax(beta A^T mu*(p)) == p (for sum p = 1) and (1/2)||mu*||^2 == ((K-1)/(2K beta^2))||clr||^2."""
    p = list(sp.symbols(f"p0:{K}", positive=True))
    beta = sp.Symbol("beta", positive=True)
    logp = sp.Matrix([sp.log(x) for x in p])
    clr = logp - sp.ones(K, 1) * (sum(logp) / K)
    P, V, A = _witness_setup(K, rotate)
    mu_star = sp.Rational(K - 1, K) / beta * A * clr                  # the T4 definition
    logits = (beta * A.T * mu_star).applyfunc(sp.simplify)
    # T3 => logits == clr exactly
    assert sp.simplify(logits - clr) == sp.zeros(K, 1)
    expo = [sp.exp(sp.expand(x)) for x in clr]
    total = sum(expo)
    for k in range(K):
        # exp(clr_k) / sum_j exp(clr_j) == p_k / sum_j p_j, i.e. == p_k on the simplex
        assert sp.simplify(sp.powsimp(sp.expand_power_exp(expo[k] / total), force=True) - p[k] / sum(p)) == 0
    # T5 energy identity
    energy = (mu_star.T * mu_star)[0] / 2
    formula = sp.Rational(K - 1, 2 * K) / beta ** 2 * (clr.T * clr)[0]
    assert sp.simplify(sp.expand(energy - formula)) == 0


# ------------------------------------------------------------------------------------ T6

@pytest.mark.parametrize("K", [2, 3])
def test_t6_gradient_symbolic(K):
    """grad_mu KL(t || softmax(beta A^T mu)) == beta A (S(mu) - t) for t on the simplex."""
    beta = sp.Symbol("beta", positive=True)
    t = _simplex_rows("t", 1, K)[0]
    mu = sp.Matrix(sp.symbols(f"m0:{K - 1}", real=True))
    _, _, A = _witness_setup(K, False)
    a = beta * A.T * mu
    Z = sum(sp.exp(x) for x in a)
    kl = sum(tk * sp.log(tk) for tk in t) - sum(t[k] * (a[k] - sp.log(Z)) for k in range(K))
    S = sp.Matrix([sp.exp(x) / Z for x in a])
    expected = beta * A * (S - sp.Matrix(t))
    for j in range(K - 1):
        assert sp.simplify(sp.diff(kl, mu[j]) - expected[j]) == 0


# ------------------------------------------------------------------------------------ T7

@pytest.mark.parametrize("K", [2, 3])
def test_t7_second_derivative_is_variance_symbolic(K):
    """With logits a(s) = s c: d^2/ds^2 KL(t||softmax(s c)) == Var_{softmax(s c)}(c), for any c
    and t on the simplex; and Var == (1/2) sum_jk S_j S_k (c_j - c_k)^2 >= 0.

    Along the scaled path mu(s) = s mu*(t) the logits are s clr(t) (T4), so L_TS(s) is a
    weighted sum of such functions with c = clr(T_i): convex in s.
    """
    s = sp.Symbol("s", real=True)
    c = list(sp.symbols(f"c0:{K}", real=True))
    t = _simplex_rows("t", 1, K)[0]
    Z = sum(sp.exp(s * ck) for ck in c)
    S = [sp.exp(s * ck) / Z for ck in c]
    kl = sum(tk * sp.log(tk) for tk in t) - sum(t[k] * (s * c[k] - sp.log(Z)) for k in range(K))
    var = sum(S[k] * c[k] ** 2 for k in range(K)) - sum(S[k] * c[k] for k in range(K)) ** 2
    assert sp.simplify(sp.diff(kl, s, 2) - var) == 0
    # Var as a sum of squares (for any probability vector S)
    u = list(sp.symbols(f"u0:{K - 1}", positive=True))
    u = u + [1 - sum(u)]
    var_u = sum(u[k] * c[k] ** 2 for k in range(K)) - sum(u[k] * c[k] for k in range(K)) ** 2
    sos = sum(u[j] * u[k] * (c[j] - c[k]) ** 2 for j in range(K) for k in range(K)) / 2
    assert sp.expand(var_u - sos) == 0


# ----------------------------------------------------------------------------------- T10

def test_t10_gap_minimum_at_sigma_one():
    """f(sigma) = sigma^2 - 1 - log sigma^2 >= 0 with equality iff sigma = 1 (sigma > 0):
    f' = 0 only at sigma = 1, f'' > 0 everywhere (strictly convex), f(1) = 0. Summing
    (1/2) f(sigma_j) over coordinates gives KL(N(mu, diag sigma^2)||N(0,I)) - (1/2)||mu||^2."""
    sig = sp.Symbol("sigma", positive=True)
    f = sig ** 2 - 1 - sp.log(sig ** 2)
    crit = sp.solve(sp.Eq(sp.diff(f, sig), 0), sig)
    assert crit == [1]
    f2 = sp.simplify(sp.diff(f, sig, 2))
    assert f2.is_positive                                  # 2 + 2/sigma^2 > 0
    assert f.subs(sig, 1) == 0
    mu = sp.Symbol("mu", real=True)
    kl = sp.Rational(1, 2) * (mu ** 2 + sig ** 2 - 1 - sp.log(sig ** 2))
    assert sp.simplify(kl - mu ** 2 / 2 - f / 2) == 0
