"""Metrics of a trained VAE on one split, and the ledger bounds asserted on it.

Every certificate quantity (I_T, L_TS, G_T, the T8 size bound, the energies) comes from
``witness_theory.certify`` on float64 NumPy encoder means: nothing here re-derives them.
What is computed here is what the theory package does not own:

- active units (Burda et al. 2016): unit u is active when Var_x(mu_u(x)) >= 0.01, with the
  unbiased (ddof=1) variance over the evaluation split; reported as a count and as a fraction of d.
- mutual information I_q(x; z) (He et al. 2019, "Lagging inference networks", ``calc_mi``):
  I = E_x[-H(q(z|x))] - E_{x, z~q(z|x)}[log q(z)], with the aggregate posterior
  q(z) = (1/M) sum_j q(z|x_j) estimated over a minibatch of M points. The minibatch variant
  averages the estimate over consecutive batches of ``mi_batch_size`` (reported); the
  full-data variant uses the whole split as the mixture (M = N), computed in chunks.
  Both are bounded above by log M, which is why the batch size must be reported with it.
  This torch copy is the one evaluation uses; ``proofs/test_collapse_metrics.py`` checks it
  against the float64 reference ``witness_theory.collapse_metrics.he_mutual_information``. z is
  drawn from the run's own seed (``honest_mi``), so the spread over seeds includes the
  estimator's noise.
- ``honest_mi``: next to He et al.'s number, the matched-sample estimate (exactly 0 at exact
  collapse), the Monte Carlo spread of both over repeated draws, and a flag on any estimate above
  the mean KL(q(z|x) || p(z)), which bounds the true MI (``witness_theory.collapse_metrics``).
"""
from __future__ import annotations

import math
import sys

import numpy as np
import torch

import witness_theory as wt
from witness_theory import collapse_metrics as cm
from witness_theory import theorems

__all__ = ["ACTIVE_UNIT_THRESHOLD", "active_units", "gaussian_log_density", "mutual_information", "honest_mi",
           "ledger_checks", "report_violations", "MI_SPREAD_REPEATS"]

#: Independent z draws for the Monte Carlo spread of the MI estimates (minibatch variants).
MI_SPREAD_REPEATS = 5

#: Var_x(mu_u) threshold for an active unit (Burda et al. 2016): written once, in witness_theory
ACTIVE_UNIT_THRESHOLD = cm.ACTIVE_UNIT_THRESHOLD


def active_units(codes: np.ndarray, threshold: float = ACTIVE_UNIT_THRESHOLD) -> tuple[int, np.ndarray]:
    """(number of units with unbiased Var_x(mu_u) >= threshold, the per-unit variances): the one
    rule, :func:`witness_theory.collapse_metrics.active_units` (pinned by proofs/test_mutants.py)."""
    return cm.active_units(codes, threshold)


def gaussian_log_density(z: torch.Tensor, mu: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """log N(z_i; mu_j, diag exp(log_var_j)) for all pairs: (len(z), len(mu)).

    log N = -(1/2) [d log 2 pi + sum_u log_var_u + sum_u (z_u - mu_u)^2 / exp(log_var_u)].
    The quadratic form is expanded, sum_u z^2/v - 2 z mu/v + mu^2/v, so that all pairs come
    out of ONE matrix product [z^2, z, 1] @ [1/v, -2 mu/v, sum(mu^2/v) + sum(log v)]^T with no
    (N, N, d) temporary (float64 keeps the expansion's cancellation far below the estimator's
    own Monte Carlo noise).
    """
    d = z.shape[1]
    inv_var = torch.exp(-log_var)                                               # (Nmu, d)
    const = (mu.pow(2) * inv_var).sum(1, keepdim=True) + log_var.sum(1, keepdim=True)
    left = torch.cat([z.pow(2), z, torch.ones_like(z[:, :1])], dim=1)           # (Nz, 2d+1)
    right = torch.cat([inv_var, -2 * mu * inv_var, const], dim=1)               # (Nmu, 2d+1)
    return -0.5 * (d * math.log(2 * math.pi) + left @ right.T)


def _mi_on(mu: torch.Tensor, log_var: torch.Tensor, z: torch.Tensor, chunk: int = 1024) -> float:
    """He et al. (2019) estimate with the mixture over exactly the rows given (M = len(mu))."""
    n, d = mu.shape
    # E[-H(q(z|x))] = E[-(d/2) log 2 pi e - (1/2) sum log_var]
    neg_entropy = (-0.5 * d * math.log(2 * math.pi) - 0.5 * (1 + log_var).sum(1)).mean()
    log_qz = []
    for start in range(0, n, chunk):
        dens = gaussian_log_density(z[start:start + chunk], mu, log_var)  # (chunk, M)
        log_qz.append(torch.logsumexp(dens, dim=1) - math.log(n))
    return float(neg_entropy - torch.cat(log_qz).mean())


def mutual_information(mu: np.ndarray, log_var: np.ndarray, *, batch_size: int = 128,
                       seed: int = 0, full: bool = True) -> dict:
    """I_q(x; z): the minibatch estimator (batches of ``batch_size``, a weighted average over
    batches) and the full-data variant. One z ~ q(z|x) per point, drawn with a fixed seed so
    the value is a deterministic function of the codes. ``full=False`` skips the O(N^2)
    full-data variant (reported as None)."""
    mu_t = torch.as_tensor(np.asarray(mu, dtype=np.float64))
    lv_t = torch.as_tensor(np.asarray(log_var, dtype=np.float64))
    gen = torch.Generator().manual_seed(int(seed))
    z = mu_t + torch.exp(0.5 * lv_t) * torch.randn(mu_t.shape, generator=gen, dtype=torch.float64)
    n = mu_t.shape[0]
    total = 0.0
    for start in range(0, n, batch_size):
        sl = slice(start, start + batch_size)
        m = mu_t[sl].shape[0]
        total += m * _mi_on(mu_t[sl], lv_t[sl], z[sl])
    return {"mi_minibatch": total / n, "mi_batch_size": int(min(batch_size, n)),
            "mi_full": _mi_on(mu_t, lv_t, z) if full else None, "mi_full_size": int(n) if full else None}


def honest_mi(mu: np.ndarray, log_var: np.ndarray, *, seed: int, batch_size: int, full: bool,
              spread: bool = True) -> dict:
    """The matched-sample MI, the noise flags and (``spread``) the Monte Carlo spread of both
    estimators over repeated draws (He et al.'s estimate itself is :func:`mutual_information`,
    with the same ``seed``). The spread repeats the estimators MI_SPREAD_REPEATS times: the final
    evaluation reports it, per-epoch evaluations skip it."""

    he = mutual_information(mu, log_var, batch_size=batch_size, seed=seed, full=full)
    matched = cm.matched_mutual_information(mu, log_var, seed=seed, batch_size=batch_size, full=full)
    mean_kl = cm.mean_gaussian_kl(mu, log_var)
    he_value = he["mi_full"] if he["mi_full"] is not None else he["mi_minibatch"]
    sd: dict = {}
    if spread:
        draws = cm.mutual_information_spread(mu, log_var, repeats=MI_SPREAD_REPEATS, seed=seed, batch_size=batch_size)
        sd = {"mi_spread": draws, "mi_minibatch_sd": draws["he_minibatch"]["std"],
              "mi_matched_minibatch_sd": draws["matched_minibatch"]["std"]}
    return {**he, "mi_matched_minibatch": matched["mi_minibatch"], "mi_matched_full": matched["mi_full"], **sd,
            # an estimate above E KL(q(z|x) || p(z)) >= I_q(x; z) is estimator noise (Hoffman & Johnson 2016)
            "mi_noise": bool(he_value > mean_kl), "mi_mean_kl_bound": mean_kl}


def ledger_checks(teacher: np.ndarray, codes: np.ndarray, log_var: np.ndarray, witness: wt.Witness,
                  *, frontier: bool = False) -> list:
    """The ledger bounds every trained model must satisfy (as CheckResults):

    T2: G_T <= I_T, and the best constant predictor at the mean code has loss >= I_T;
    T8: G_T <= the size bound (and its trace form), and the number of active units is at least
        the one a certified margin implies (replaces the vacuous 0 <= AU <= d);
    T5: mean KL >= (1/2)E||mu||^2 >= (1/2)E||P^T mu||^2 (with codes and log_var);
    T10: per-row KL(N(mu, s^2) || N(0, I)) >= (1/2)||mu||^2;
    T11 (``frontier``, the final evaluation): mean KL >= (1/2)E||mu||^2 >= E_min(L_TS), the optimal
        margin-energy frontier; unlike the others this can fail if the theory or the code is wrong.
    """
    checks = [
        theorems.T2.check(teacher, codes, witness),
        theorems.T8.check(teacher, codes, witness),
        theorems.T5.check(teacher, witness, codes=codes, log_var=log_var),
        theorems.T10.check(codes, log_var),
    ]
    if frontier:
        checks.append(theorems.T11.check(teacher, witness, codes=codes, log_var=log_var,
                                         teacher_parts=_t11_teacher_parts(teacher, witness)))
    return checks


# T11's teacher-only half (~1.8 s on digits) is the same for every model of an experiment: computed
# once per (teacher, witness) and reused (keyed by a SHA-1 of the arrays; at most 8 kept).
_T11_PARTS: dict = {}


def _t11_teacher_parts(teacher: np.ndarray, witness: wt.Witness):
    import hashlib

    h = hashlib.sha1()
    for a in (np.ascontiguousarray(teacher, dtype=np.float64), np.ascontiguousarray(witness.P),
              np.asarray([witness.scale])):
        h.update(repr(a.shape).encode())
        h.update(a.view(np.uint8).tobytes())
    key = h.hexdigest()
    if key not in _T11_PARTS:
        if len(_T11_PARTS) >= 8:
            _T11_PARTS.pop(next(iter(_T11_PARTS)))
        _T11_PARTS[key] = theorems.t11_teacher_parts(teacher, witness)
    return _T11_PARTS[key]


def report_violations(checks: list, context: str = "") -> list[dict]:
    """Violated checks as dicts with the numbers; each printed loudly to stderr."""
    out = []
    for check in checks:
        if not check.holds:
            print(f"BOUND VIOLATED {context}: {check}", file=sys.stderr, flush=True)
            rec = check.as_dict()
            rec["context"] = context
            out.append(rec)
    return out
