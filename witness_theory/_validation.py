"""Input validation: every bad input gets a ValueError naming the argument and the fix.

Tolerance for "is a probability vector": each row must sum to 1 within ``ROW_SUM_ATOL``
(1e-6, absolute). That is loose enough for float32 softmax outputs cast to float64 (their
row sums are off by ~1e-7) and tight enough to reject unnormalised counts or logits.
"""
from __future__ import annotations

import numpy as np

ROW_SUM_ATOL = 1e-6
# Frames are orthonormal when ||P^T P - I||_max <= FRAME_ATOL: float64 QR gives ~1e-15;
# 1e-8 also admits frames that were stored in float32 and renormalised in float64.
FRAME_ATOL = 1e-8


def as_float_array(x, name: str, ndim: int | tuple[int, ...] | None = None) -> np.ndarray:
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a numeric array ({exc})") from None
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else ndim
        if arr.ndim not in allowed:
            raise ValueError(f"{name} must have {' or '.join(map(str, allowed))} dimension(s), got shape {arr.shape}")
    if not np.isfinite(arr).all():  # one pass in the common case; say which kind on failure
        if np.isnan(arr).any():
            raise ValueError(f"{name} contains NaN; remove or impute those entries first")
        raise ValueError(f"{name} contains infinite values; all entries must be finite")
    return arr


def check_distributions(p, name: str = "teacher", *, full_support: bool = False,
                        allow_1d: bool = True) -> np.ndarray:
    """Return ``p`` as a float64 (N, K) array of probability rows, or raise ValueError.

    A 1-D input is one row. With ``full_support`` every entry must be > 0 (needed by clr,
    the exact code, its energy and the margin-energy path: T4, T5, T7).
    """
    arr = as_float_array(p, name, (1, 2) if allow_1d else 2)
    if arr.ndim == 1:
        arr = arr[None, :]
    n, k = arr.shape
    if k < 2:
        raise ValueError(f"{name} must have K >= 2 outcomes per row, got K = {k}")
    if n < 1:
        raise ValueError(f"{name} must have at least one row")
    if (arr < 0).any():
        i = int(np.argwhere(arr < 0)[0][0])
        raise ValueError(f"{name} has negative entries (first in row {i}); rows must be probability vectors")
    sums = arr.sum(axis=1)
    bad = np.abs(sums - 1.0) > ROW_SUM_ATOL
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(
            f"{name} row {i} sums to {sums[i]!r}, not 1 (tolerance {ROW_SUM_ATOL}); "
            "normalise each row, e.g. p / p.sum(axis=1, keepdims=True)")
    if full_support and (arr <= 0).any():
        i = int(np.argwhere(arr <= 0)[0][0])
        raise ValueError(
            f"{name} row {i} has zero entries, but this needs full support (every entry > 0); "
            "mix in a floor, e.g. (1 - eps) * p + eps / K")
    # Rows accepted within the tolerance are renormalised, so that identities that assume
    # sum_k p_k = 1 exactly (T1, T6) hold to float64 precision, not to 1e-6.
    return arr if np.all(sums == 1.0) else arr / sums[:, None]


def check_weights(weights, n: int, name: str = "weights") -> np.ndarray:
    """Return normalised float64 weights of length n (uniform 1/n when ``weights`` is None)."""
    if weights is None:
        return np.full(n, 1.0 / n)
    w = as_float_array(weights, name, 1)
    if w.shape[0] != n:
        raise ValueError(f"{name} has length {w.shape[0]} but there are {n} data points; pass one weight per row")
    if (w < 0).any():
        raise ValueError(f"{name} has negative entries; weights must be >= 0")
    total = w.sum()  # 1-D np.sum is pairwise: O(log N) ulps
    if not total > 0:
        raise ValueError(f"{name} sum to {total}; at least one weight must be positive")
    return w / total


def check_scale(scale, name: str = "witness_scale") -> float:
    try:
        s = float(scale)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a positive number, got {scale!r}") from None
    if not np.isfinite(s) or s <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {scale!r}")
    return s


def check_codes(mu, d: int, n: int | None = None, name: str = "codes") -> np.ndarray:
    """Encoder means as a float64 (N, d) array; a 1-D input of length d is one code."""
    arr = as_float_array(mu, name, (1, 2))
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.shape[1] != d:
        raise ValueError(f"{name} has latent dimension {arr.shape[1]} but the witness expects d = {d}")
    if n is not None and arr.shape[0] != n:
        raise ValueError(f"{name} has {arr.shape[0]} rows but the teacher has {n}; pass one code per data point")
    return arr
