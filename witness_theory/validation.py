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


# Largest number of float64 entries one witness matrix ((K-1, K), (d, K-1) or (d, K)) may
# have: 2**27 entries = 1 GiB. Teachers have tens to thousands of outcomes (K = 16,384 is at
# the limit); anything larger is a mistyped size that would otherwise end in MemoryError.
MAX_MATRIX_ENTRIES = 2 ** 27


def _kind_of(raw: np.ndarray) -> str:
    """'complex', 'text', 'object' or 'numeric' for an array from np.asarray without a dtype."""
    if raw.dtype.kind == "c":
        return "complex"
    if raw.dtype.kind in "USV":
        return "text"
    if raw.dtype.kind == "O":
        for v in raw.flat:
            if isinstance(v, (complex, np.complexfloating)):
                return "complex"
        return "object"
    return "numeric"


def as_float_array(x, name: str, ndim: int | tuple[int, ...] | None = None, *,
                   allow_neg_inf: bool = False, check_finite: bool = True) -> np.ndarray:
    """``x`` as a float64 array of finite reals, or a ValueError/TypeError naming ``name``.

    Complex input is a TypeError (casting would drop the imaginary part); None, text and
    objects that are not numbers are refused before any cast. ``allow_neg_inf`` admits -inf
    (log-probabilities of impossible outcomes). ``check_finite=False`` leaves the finiteness
    pass to a caller that proves it more cheaply (it must then call :func:`check_all_finite`).
    """
    if x is None:
        raise TypeError(f"{name} must be a numeric array, got None")
    if isinstance(x, (str, bytes)):
        raise ValueError(f"{name} must be a numeric array, got the text {x[:40]!r}")
    try:
        raw = np.asarray(x)
    except (TypeError, ValueError) as exc:  # ragged nested lists and the like
        raise ValueError(f"{name} must be a numeric array ({exc})") from None
    kind = _kind_of(raw)
    if kind == "complex":
        raise TypeError(f"{name} must be real, got complex values; pass the real part explicitly "
                        f"(np.real({name})) if the imaginary part is known to be zero")
    if kind == "text":
        raise ValueError(f"{name} must be a numeric array, got text (dtype {raw.dtype})")
    try:
        arr = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValueError(f"{name} must be a numeric array ({exc})") from None
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else ndim
        if arr.ndim not in allowed:
            raise ValueError(f"{name} must have {' or '.join(map(str, allowed))} dimension(s), got shape {arr.shape}")
    if check_finite:
        check_all_finite(arr, name, allow_neg_inf=allow_neg_inf)
    return arr


def check_all_finite(arr: np.ndarray, name: str, *, allow_neg_inf: bool = False) -> None:
    """A ValueError naming ``name`` if ``arr`` holds NaN or an infinity (-inf allowed with
    ``allow_neg_inf``)."""
    if not np.isfinite(arr).all():  # one pass in the common case; say which kind on failure
        if np.isnan(arr).any():
            raise ValueError(f"{name} contains NaN; remove or impute those entries first")
        if not (allow_neg_inf and not np.isposinf(arr).any()):
            raise ValueError(f"{name} contains infinite values; all entries must be finite")


def real_float(x, name: str) -> float:
    """``float(x)`` for a real number (NaN and infinities included), or a TypeError naming ``name``:
    None, bools, text, complex numbers and objects float() refuses are not numbers here."""
    if x is None or isinstance(x, (bool, np.bool_, str, bytes, complex, np.complexfloating)):
        raise TypeError(f"{name} must be a real number, got {x!r:.60}")
    try:
        return float(x)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a real number, got {type(x).__name__} {x!r:.60}") from None


def check_finite_number(x, name: str, *, positive: bool = False) -> float:
    """A real finite Python float (> 0 with ``positive``), or a TypeError/ValueError naming ``name``."""
    v = real_float(x, name)
    if not np.isfinite(v) or (positive and v <= 0):
        raise ValueError(f"{name} must be a finite number{' > 0' if positive else ''}, got {x!r}")
    return v


def check_nonneg_number(x, name: str, allow_inf: bool = False) -> float:
    """A real number >= 0 (inf only with ``allow_inf``): text, bools, lists, complex and None are
    a TypeError naming ``name``, NaN and negatives a ValueError."""
    v = real_float(x, name)
    if not v >= 0 or (v == np.inf and not allow_inf):
        raise ValueError(f"{name} must be a {'' if allow_inf else 'finite '}number >= 0, got {x!r}")
    return v


def check_integer(x, name: str, low: int, high: int | None = None) -> int:
    """An integer (Python or NumPy, not bool; floats refused, even integral ones) in [low, high],
    or a ValueError naming ``name``."""
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, np.integer)):
        raise ValueError(f"{name} must be an integer >= {low}, got {type(x).__name__} {x!r:.60}")
    if x < low or (high is not None and x > high):
        bound = f"in [{low}, {high:,}]" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be an integer {bound}, got {x!r:.60}")
    return int(x)


def check_matrix_size(name: str, rows: int, cols: int) -> None:
    """Refuse a (rows, cols) float64 matrix with more than MAX_MATRIX_ENTRIES entries, before allocating."""
    if rows * cols > MAX_MATRIX_ENTRIES:
        raise ValueError(f"{name} would be a ({rows}, {cols}) matrix of {rows * cols * 8 / 2 ** 30:.3g} GiB, "
                         f"over the limit of {MAX_MATRIX_ENTRIES:,} entries (1 GiB); check K and d")


def check_distributions(p, name: str = "teacher", *, full_support: bool = False,
                        allow_1d: bool = True) -> np.ndarray:
    """Return ``p`` as a float64 (N, K) array of probability rows, or raise ValueError.

    A 1-D input is one row. With ``full_support`` every entry must be > 0 (needed by clr,
    the exact code, its energy and the margin-energy path: T4, T5, T7).
    """
    return distributions_and_row_sums(p, name, full_support=full_support, allow_1d=allow_1d)[0]


def distributions_and_row_sums(p, name: str = "teacher", *, full_support: bool = False,
                               allow_1d: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """:func:`check_distributions` and the row sums ``T.sum(axis=1)`` it computed, where the rows
    it returns are the ones it summed (None where it renormalised them, or for a Teacher object):
    core.Teacher keeps them instead of summing again (bench/bench_certify.py: a sum pass is ~0.6
    of a log pass on 70,000 x 100 on a CPU whose log is fast)."""
    if is_teacher_object(p):
        # a precomputed Teacher: its rows are validated already. A function that takes no weights
        # cannot honour non-uniform ones, so those are refused rather than dropped
        if not np.all(p.w == p.w[0]):
            raise ValueError(f"{name} is a Teacher with non-uniform weights, but this function takes no weights; "
                             f"pass the weighted (N, K) array and weights, or a Teacher without weights")
        return (_check_full_support(p.T, name) if full_support else p.T), None
    arr = as_float_array(p, name, (1, 2) if allow_1d else 2, check_finite=False)
    if arr.ndim == 1:
        arr = arr[None, :]
    n, k = arr.shape
    if k < 2:
        raise ValueError(f"{name} must have K >= 2 outcomes per row, got K = {k}")
    if n < 1:
        raise ValueError(f"{name} must have at least one row")
    # finiteness and sign from one reduction and the row sums the next check needs anyway: min
    # propagates NaN, so min >= 0 rules out NaN and negative entries, and then entries >= 0 with
    # finite row sums are all finite (bench/bench_certify.py: Teacher(T) ~1.4 log passes less)
    sums = arr.sum(axis=1)
    if not (arr.min() >= 0 and np.isfinite(sums).all()):
        check_all_finite(arr, name)      # NaN or an infinity: that error, naming which
        if (arr < 0).any():
            i = int(np.argwhere(arr < 0)[0][0])
            raise ValueError(f"{name} has negative entries (first in row {i}); rows must be probability vectors")
        # else finite entries whose sum overflows: the row-sum error below names the row
    bad = np.abs(sums - 1.0) > ROW_SUM_ATOL
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(
            f"{name} row {i} sums to {sums[i]!r}, not 1 (tolerance {ROW_SUM_ATOL}); "
            "normalise each row, e.g. p / p.sum(axis=1, keepdims=True)")
    if full_support:
        _check_full_support(arr, name)
    # Rows accepted within the tolerance are renormalised, so that identities that assume
    # sum_k p_k = 1 exactly (T1, T6) hold to float64 precision, not to 1e-6. Rows whose computed
    # sum is within K eps of 1 are at float64 precision already: rounding alone moves a K-term
    # sum of entries adding up to 1 by up to (K-1) u < K eps / 2, and dividing by such a sum
    # leaves rows that again sum to 1 only within that rounding. So no copy of T for them (a
    # division pass cost 0.6 of a log pass on 70,000 x 100, bench/bench_certify.py)
    if np.all(np.abs(sums - 1.0) <= k * np.finfo(np.float64).eps):
        return arr, sums
    return arr / sums[:, None], None


def _check_full_support(arr: np.ndarray, name: str) -> np.ndarray:
    if (arr <= 0).any():
        i = int(np.argwhere(arr <= 0)[0][0])
        raise ValueError(
            f"{name} row {i} has zero entries, but this needs full support (every entry > 0); "
            "mix in a floor, e.g. (1 - eps) * p + eps / K")
    return arr


def is_teacher_object(x) -> bool:
    """True for a :class:`witness_theory.core.Teacher` (marked by a class attribute: this module
    is below core and cannot import it)."""
    return getattr(type(x), "_witness_teacher", False) is True


def check_teacher(teacher, weights=None, name: str = "teacher", weights_name: str = "weights", *,
                  full_support: bool = False, allow_1d: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(T, w): the validated (N, K) teacher rows and their normalised weights, from an array with
    optional ``weights`` or from a precomputed Teacher (whose weights are part of it). The one
    entry point that makes every function taking ``teacher`` accept a Teacher (core.Teacher's promise)."""
    T, w, _ = teacher_and_row_sums(teacher, weights, name, weights_name, full_support=full_support, allow_1d=allow_1d)
    return T, w


def teacher_and_row_sums(teacher, weights=None, name: str = "teacher", weights_name: str = "weights", *,
                         full_support: bool = False, allow_1d: bool = True
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """:func:`check_teacher` and the validation's row sums (:func:`distributions_and_row_sums`;
    None where they must be summed again)."""
    if is_teacher_object(teacher):
        if weights is not None:
            raise ValueError(f"{weights_name} are part of a Teacher object; pass {weights_name}=None with a Teacher "
                             f"(or the (N, K) array as {name} with {weights_name})")
        T = _check_full_support(teacher.T, name) if full_support else teacher.T
        return T, teacher.w, None
    T, sums = distributions_and_row_sums(teacher, name, full_support=full_support, allow_1d=allow_1d)
    return T, check_weights(weights, T.shape[0], weights_name), sums


def check_weights(weights, n: int, name: str = "weights") -> np.ndarray:
    """Return normalised float64 weights of length n (uniform 1/n when ``weights`` is None)."""
    if n < 1:
        raise ValueError(f"there are no data points to weight ({name} for 0 rows); pass at least one row")
    if weights is None:
        return np.full(n, 1.0 / n)
    w = as_float_array(weights, name, 1)
    if w.shape[0] != n:
        raise ValueError(f"{name} has length {w.shape[0]} but there are {n} data points; pass one weight per row")
    if (w < 0).any():
        raise ValueError(f"{name} has negative entries; weights must be >= 0")
    with np.errstate(over="ignore"):
        total = w.sum()  # 1-D np.sum is pairwise: O(log N) ulps
    if not total > 0:
        raise ValueError(f"{name} sum to {total}; at least one weight must be positive")
    if not np.isfinite(total):
        # weights near 1e308 overflow the sum: divide by the largest weight first (exact for
        # powers of two, one rounding otherwise), then normalise; the ratios are unchanged
        w = w / w.max()
        total = w.sum()
    return w / total


def check_scale(scale, name: str = "witness_scale") -> float:
    if scale is None or isinstance(scale, (bool, np.bool_, str, bytes, complex, np.complexfloating)):
        raise TypeError(f"{name} must be a positive number, got {scale!r}")
    try:
        s = float(scale)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a positive number, got {type(scale).__name__}") from None
    if not np.isfinite(s) or s <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {scale!r}")
    return s


def check_codes(mu, d: int, n: int | None = None, name: str = "codes", *,
                check_finite: bool = True) -> np.ndarray:
    """Encoder means as a float64 (N, d) array; a 1-D input of length d is one code.
    ``check_finite=False``: the caller checks finiteness (see :func:`as_float_array`)."""
    arr = as_float_array(mu, name, (1, 2), check_finite=check_finite)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.shape[0] == 0:
        raise ValueError(f"{name} has no rows (shape {arr.shape}); pass at least one code")
    if arr.shape[1] != d:
        raise ValueError(f"{name} has latent dimension {arr.shape[1]} but the witness expects d = {d}")
    if n is not None and arr.shape[0] != n:
        raise ValueError(f"{name} has {arr.shape[0]} rows but the teacher has {n}; pass one code per data point")
    return arr


def check_code_norms(mu: np.ndarray, name: str = "codes", sq_norms: np.ndarray | None = None) -> None:
    """A ValueError naming ``name`` when a finite code's squared norm ||mu_i||^2 overflows float64
    (entries above ~1e154): every energy, float-error bound and size bound built on it would be
    inf, and a verdict drawn from an inf is no verdict. ``sq_norms``: the (N,) squared norms when
    the caller has them."""
    if sq_norms is None:
        with np.errstate(over="ignore", invalid="ignore"):
            sq_norms = np.einsum("ij,ij->i", mu, mu) if mu.ndim == 2 else np.atleast_1d(mu @ mu)
    if not np.isfinite(sq_norms).all():
        raise_too_large(mu, name, "the squared norm ||mu_i||^2")


def raise_too_large(mu: np.ndarray, name: str, what: str):
    """The one message for finite codes whose derived quantity ``what`` overflows float64."""
    big = float(np.abs(mu).max()) if np.size(mu) else 0.0
    raise ValueError(f"{name} are too large: {what} overflows float64 (largest |entry| {big:.3g}); "
                     f"scale the codes down (e.g. divide {name} by {10.0 ** np.ceil(np.log10(max(big, 1.0)) - 2):.0e})")


def check_log_probs(log_q, name: str = "log_q") -> np.ndarray:
    """Rows of log-probabilities (-inf allowed): each row's logsumexp must be 0 within
    ROW_SUM_ATOL (the row of exp(log_q) sums to 1 within ROW_SUM_ATOL, to first order)."""
    LQ = as_float_array(log_q, name, (1, 2), allow_neg_inf=True)
    if LQ.size == 0:
        raise ValueError(f"{name} is empty (shape {LQ.shape}); pass log-probabilities")
    # NumPy's logaddexp reduction, not scipy.special.logsumexp: the same log sum exp to a few ulps per term
    # (a row of -inf gives -inf, refused below), ~150 us less per call on a few rows (scipy's array-API
    # dispatch; T11's E_min calls this once per call, via loss_at_zero) and 1.5x faster on 70,000 x 100
    lse = np.atleast_1d(np.logaddexp.reduce(LQ, axis=-1))
    bad = ~(np.abs(lse) <= ROW_SUM_ATOL)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"{name} row {i} is not normalised: exp({name}) sums to {float(np.exp(lse[i]))!r}, not 1 "
                         f"(tolerance {ROW_SUM_ATOL}); pass log-probabilities, e.g. a log_softmax")
    return LQ


def check_seed(seed, name: str = "seed") -> int:
    """An integer seed in [0, 2**32) (what numpy's default_rng and scikit-learn's random_state both take)."""
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, got {seed!r:.60}")
    if not 0 <= seed < 2 ** 32:
        raise ValueError(f"{name} must be an integer in [0, 2**32), got {seed!r}")
    return int(seed)
