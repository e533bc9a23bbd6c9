"""Input validation of witness_theory: every bad input raises a ValueError that names the
argument (and, where there is one, the fix). Row sums are checked with the absolute tolerance
ROW_SUM_ATOL = 1e-6 stated in witness_theory/validation.py; frames with FRAME_ATOL = 1e-8."""
from __future__ import annotations

import numpy as np
import pytest

import witness_theory as wt
from witness_theory import validation
from witness_theory.theorems import T1, T10

T_OK = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]])
W3 = wt.Witness(3, 4, 1.0)
CODES = np.zeros((2, 4))


def test_stated_tolerances():
    assert validation.ROW_SUM_ATOL == 1e-6
    assert validation.FRAME_ATOL == 1e-8


# -------------------------------------------------------------------------- row sums
@pytest.mark.parametrize("delta", [2e-6, -2e-6, 0.5])
def test_rows_not_summing_to_one(delta):
    T = T_OK.copy()
    T[1, 0] += delta
    with pytest.raises(ValueError, match=r"teacher row 1 sums to .* not 1 \(tolerance 1e-06\)"):
        wt.teacher_information(T)


def test_row_sum_within_tolerance_is_accepted():
    T = T_OK.copy()
    T[0, 0] += 5e-7                      # inside ROW_SUM_ATOL: accepted as is
    assert np.isfinite(wt.teacher_information(T))


@pytest.mark.parametrize("fn", [
    lambda p: wt.clr(p), lambda p: wt.entropy(p), lambda p: wt.exact_code(p, W3),
])
def test_unnormalised_p_names_p(fn):
    with pytest.raises(ValueError, match=r"^p row 0 sums to .*normalise each row"):
        fn(np.array([1.0, 2.0, 3.0]))


# ------------------------------------------------------------------ negative / NaN / inf
def test_negative_entries():
    T = np.array([[1.1, -0.1, 0.0]])
    with pytest.raises(ValueError, match=r"teacher has negative entries \(first in row 0\)"):
        wt.teacher_information(T)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_and_inf_entries(bad):
    T = T_OK.copy()
    T[0, 1] = bad
    with pytest.raises(ValueError, match=r"teacher contains (NaN|infinite values)"):
        wt.teacher_marginal(T)


def test_nan_codes():
    codes = CODES.copy()
    codes[1, 2] = np.nan
    with pytest.raises(ValueError, match=r"codes contains NaN"):
        wt.alignment_loss(T_OK, codes, W3)


def test_non_numeric_input():
    with pytest.raises(ValueError, match=r"teacher must be a numeric array"):
        wt.teacher_information([["a", "b"]])


# ----------------------------------------------------------------- full support required
ZERO_ROW = np.array([[0.5, 0.5, 0.0], [0.2, 0.3, 0.5]])


@pytest.mark.parametrize("name,call", [
    ("p", lambda: wt.clr(ZERO_ROW)),
    ("p", lambda: wt.exact_code(ZERO_ROW, W3)),
    ("teacher", lambda: wt.exact_embedding(ZERO_ROW, W3)),
    ("teacher", lambda: wt.logodds_energy(ZERO_ROW)),
    ("teacher", lambda: wt.exact_code_energy(ZERO_ROW, W3)),
    ("teacher", lambda: wt.margin_energy_path(ZERO_ROW, W3)),
])
def test_zero_entries_where_full_support_is_required(name, call):
    with pytest.raises(ValueError, match=rf"^{name} row 0 has zero entries, but this needs full support.*floor"):
        call()


def test_zero_entries_allowed_where_theorem_allows():
    assert wt.teacher_information(ZERO_ROW) >= 0
    assert T1.check(ZERO_ROW).holds


# -------------------------------------------------------------------------------- K, d
@pytest.mark.parametrize("K", [1, 0, -3])
def test_K_below_two(K):
    with pytest.raises(ValueError, match=r"K \(number of teacher outcomes\) must be >= 2"):
        wt.Witness(K)


@pytest.mark.parametrize("K", [2.0, "3", True, None])
def test_K_not_an_integer(K):
    with pytest.raises(ValueError, match=r"K \(number of teacher outcomes\) must be an integer"):
        wt.simplex_vertices(K)


def test_teacher_with_one_outcome():
    with pytest.raises(ValueError, match=r"teacher must have K >= 2 outcomes per row, got K = 1"):
        wt.teacher_information(np.ones((3, 1)))


@pytest.mark.parametrize("K,d", [(3, 1), (10, 8), (2, 0)])
def test_d_smaller_than_K_minus_1(K, d):
    with pytest.raises(ValueError, match=rf"d \(latent dimension\) = {d} is smaller than K-1 = {K - 1}"):
        wt.Witness(K, d)


def test_d_not_an_integer():
    with pytest.raises(ValueError, match=r"d \(latent dimension\) must be an integer"):
        wt.default_frame(3.5, 3)
    with pytest.raises(ValueError, match=r"d \(latent dimension\) must be an integer"):
        wt.witness_matrix(3, 2 + 0j, np.eye(2))    # was accepted because 2 + 0j == 2 with a frame


# ------------------------------------------------------------------------------ frames
def test_non_orthonormal_frame():
    P = np.eye(4, 2)
    P[0, 1] = 1e-6                      # > FRAME_ATOL off-orthogonality
    with pytest.raises(ValueError, match=r"frame columns are not orthonormal .*np.linalg.qr"):
        wt.Witness(3, 4, 1.0, P)


def test_scaled_frame_is_not_orthonormal():
    with pytest.raises(ValueError, match=r"frame columns are not orthonormal"):
        wt.Witness(3, 4, 1.0, 2 * np.eye(4, 2))


def test_nearly_orthonormal_frame_is_accepted():
    P = np.eye(4, 2)
    P[0, 0] += 1e-10                    # well inside FRAME_ATOL
    wt.Witness(3, 4, 1.0, P)


@pytest.mark.parametrize("shape,msg", [((4, 3), r"frame has 3 columns but K-1 = 2"),
                                       ((5, 2), r"frame has 5 rows but d = 4")])
def test_frame_wrong_shape(shape, msg):
    with pytest.raises(ValueError, match=msg):
        wt.Witness(3, 4, 1.0, np.eye(*shape))


def test_frame_wrong_ndim():
    with pytest.raises(ValueError, match=r"frame must have 2 dimension"):
        wt.Witness(3, None, 1.0, np.ones(3))


# ------------------------------------------------------------------------ witness scale
@pytest.mark.parametrize("scale", [0.0, -1.0, np.nan, np.inf, -np.inf])
def test_bad_witness_scale(scale):
    with pytest.raises(ValueError, match=r"witness_scale must be a finite number > 0"):
        wt.Witness(3, 4, scale)


@pytest.mark.parametrize("scale", ["big", None, True, 1j])
def test_non_numeric_witness_scale(scale):
    with pytest.raises(TypeError, match=r"witness_scale must be a positive number"):
        wt.Witness(3, 4, scale)


# ------------------------------------------------------------------------------ weights
def test_negative_weights():
    with pytest.raises(ValueError, match=r"weights has negative entries"):
        wt.teacher_information(T_OK, np.array([1.0, -0.5]))


@pytest.mark.parametrize("w", [[0.0, 0.0], [0.0, -0.0]])
def test_weights_summing_to_zero(w):
    with pytest.raises(ValueError, match=r"weights sum to 0.0; at least one weight must be positive"):
        wt.teacher_marginal(T_OK, np.array(w))


def test_nan_weights():
    with pytest.raises(ValueError, match=r"weights contains NaN"):
        wt.teacher_marginal(T_OK, np.array([np.nan, 1.0]))


def test_weights_wrong_length():
    with pytest.raises(ValueError, match=r"weights has length 3 but there are 2 data points"):
        wt.teacher_information(T_OK, np.ones(3))


def test_weights_wrong_ndim():
    with pytest.raises(ValueError, match=r"weights must have 1 dimension"):
        wt.teacher_information(T_OK, np.ones((2, 1)))


# ------------------------------------------------------------------------ shape mismatch
def test_codes_wrong_rows():
    with pytest.raises(ValueError, match=r"codes has 3 rows but the teacher has 2"):
        wt.alignment_loss(T_OK, np.zeros((3, 4)), W3)


def test_codes_wrong_dim():
    with pytest.raises(ValueError, match=r"codes has latent dimension 5 but the witness expects d = 4"):
        wt.certify(T_OK, np.zeros((2, 5)), W3)


def test_center_wrong_dim():
    with pytest.raises(ValueError, match=r"center has latent dimension 3 but the witness expects d = 4"):
        wt.escape_field(T_OK, np.zeros(3), W3)


@pytest.mark.parametrize("name,call", [
    ("teacher", lambda W: wt.alignment_loss(T_OK, CODES, W)),
    ("p", lambda W: wt.exact_code(T_OK, W)),
    ("teacher", lambda W: wt.alignment_gradient(T_OK, CODES, W)),
    ("teacher", lambda W: wt.exact_code_energy(T_OK, W)),
    ("teacher", lambda W: wt.exact_embedding(T_OK, W)),
    ("teacher", lambda W: wt.escape_step_bound(T_OK, np.zeros(4), W)),   # was a raw broadcast error
])
def test_K_mismatch_teacher_witness(name, call):
    W4 = wt.Witness(4, 4, 1.0)
    with pytest.raises(ValueError, match=rf"^{name} has K = 3 outcomes but the witness was built for K = 4 "
                                         rf"\({name} shape \(2, 3\), Witness\(K=4, d=4, scale=1.0\)\); "
                                         r"build the witness with Witness\(3, d, scale\)"):
        call(W4)


def test_log_var_shape():
    with pytest.raises(ValueError, match=r"log_var has shape \(2, 3\) but mu has shape \(2, 4\)"):
        wt.gaussian_kl(np.zeros((2, 4)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"log_var has shape"):
        T10.check(np.zeros((2, 4)), np.zeros((2, 3)))


@pytest.mark.parametrize("fn", [wt.view_gap, wt.view_information])
def test_groups_wrong_length(fn):
    with pytest.raises(ValueError, match=r"groups must be a 1-D array with one view label per data point \(2\)"):
        fn(T_OK, [0, 1, 1])


def test_groups_wrong_ndim():
    with pytest.raises(ValueError, match=r"groups must be a 1-D array"):
        wt.view_gap(T_OK, [[0], [1]])


def test_path_mode_and_s_range():
    T = np.array([[0.5, 0.3, 0.2]])
    with pytest.raises(ValueError, match=r"mode must be 'scaled' or 'interpolate'"):
        wt.margin_energy_path(T, W3, mode="linear")
    with pytest.raises(ValueError, match=r"s must lie in \[0, 1\]"):
        wt.margin_energy_path(T, W3, s=[0.0, 1.5])


# ------------------------------------------------ issue 24: checks that did not validate inputs
T2H_T = np.array([[0.6, 0.3, 0.1], [0.2, 0.2, 0.6], [0.25, 0.25, 0.5]])
T2H_X = np.array([[0.3, -1.0], [1.0, 0.5], [-0.4, 0.0]])


@pytest.mark.parametrize("ids,msg", [
    ([0, 1], r"^eval_ids has 2 ids but there are 3 rows"),
    ([0, 1, 1], r"^eval_ids repeats row ids"),
    ([0.0, 1.0, 2.0], r"^eval_ids must be a 1-D array of integer row ids"),
    ([0, np.nan, 2], r"^eval_ids must be a 1-D array of integer row ids"),
    ([[0, 1, 2]], r"^eval_ids must be a 1-D array of integer row ids"),
])
def test_t2h_check_validates_eval_ids(ids, msg):
    """T2H.check took any eval_ids (wrong length, duplicates, floats, NaN) and reported holds=True."""
    import witness_theory as wt
    with pytest.raises(ValueError, match=msg):
        wt.T2H.check(T2H_T, T2H_X, wt.Witness(3, 2), eval_ids=ids)
    assert wt.T2H.check(T2H_T, T2H_X, wt.Witness(3, 2), eval_ids=[4, 5, 6]).holds


@pytest.mark.parametrize("mean", [1e14, 1e16, 1e100])
def test_t12_large_finite_data_mean_holds(mean):
    """T12 reported a violation for a data mean of 1e14: the ELBO's mean residual R m - W e - b
    summed terms of size |m| that cancel at the optimum (b = m, e = -V m), leaving ~|m| eps of
    rounding, squared. Rounding, not overflow and not the tolerance: the residual is now written
    as (m - b) - W (V m + e), whose brackets cancel exactly."""
    import witness_theory as wt
    rng = np.random.default_rng(0)
    for D, d in [(2, 1), (3, 2), (4, 4)]:
        A = rng.normal(size=(D, D))
        for m in (np.full(D, mean), rng.normal(size=D) * mean):
            for s2, kw in [(0.5, 1.0), (1.0, 0.3), (0.01, 2.0)]:
                assert wt.T12.check(A @ A.T, s2, kw, d, data_mean=m).holds


@pytest.mark.parametrize("step,exc", [("1", TypeError), (True, TypeError), (np.nan, ValueError),
                                      (-1.0, ValueError), (0.0, ValueError), (np.inf, ValueError)])
def test_t6_check_validates_step(step, exc):
    """T6.check passed step through float(): text and bools were accepted, NaN/inf/<= 0 checked."""
    import witness_theory as wt
    with pytest.raises(exc, match=r"^step must be a"):
        wt.T6.check(T2H_T, wt.Witness(3, 2), step=step)
    assert wt.T6.check(T2H_T, wt.Witness(3, 2), step=0.5).holds


@pytest.mark.parametrize("opt", ["--weights", "--groups"])
def test_cli_two_dimensional_weights_or_groups_refused(tmp_path, capsys, opt):
    """`check --weights` flattened a 2-D array (N, 1) or (N, 2) into N or 2N values."""
    from witness_theory.__main__ import main
    np.save(tmp_path / "T.npy", T2H_T)
    np.save(tmp_path / "w.npy", np.ones((3, 1)))
    assert main(["check", str(tmp_path / "T.npy"), opt, str(tmp_path / "w.npy")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "must be a 1-D array" in err and str(tmp_path / "w.npy") in err


# -------------------------------- issue 24: messages name the user's argument, not an internal one
_TU = np.full((2, 3), 1 / 3)


@pytest.mark.parametrize("call,msg", [
    # kl_rows' internal names: "log_q has shape (3, 2) but p has shape (3, 3)"
    (lambda: wt.T2H.check(T2H_T, T2H_X, wt.Witness(2, 2)), r"^predictor gives 2 outcomes but teacher_eval has K = 3"),
    # the predictor's own "codes": the argument of T2H.check is codes_eval
    (lambda: wt.T2H.check(T2H_T, T2H_X[:, :1], wt.Witness(3, 2)), r"^codes_eval has latent dimension 1"),
    # gaussian_kl's "mu": T5, T11 and check_all take codes
    (lambda: wt.T5.check(_TU, wt.Witness(3, 2), codes=np.zeros((2, 2)), log_var=np.zeros((3, 2))),
     r"^log_var has shape \(3, 2\) but codes has shape \(2, 2\)"),
    (lambda: wt.T11.check(_TU, wt.Witness(3, 2), codes=np.zeros((2, 2)), log_var=np.zeros((3, 2))),
     r"^log_var has shape \(3, 2\) but codes has shape \(2, 2\)"),
    (lambda: wt.check_all(_TU, wt.Witness(3, 2), codes=np.zeros((2, 2)), log_var=np.zeros((3, 2))),
     r"^log_var has shape \(3, 2\) but codes has shape \(2, 2\)"),
    # a raw KeyError 'b'
    (lambda: wt.T12.check(np.eye(2), 1.0, 1.0, 1, params=dict(W=np.zeros((2, 1)))),
     r"^params must be a dict with keys W, b, V, e, log_s2 .* without \['V', 'b', 'e', 'log_s2'\]"),
])
def test_messages_name_the_users_argument(call, msg):
    with pytest.raises(ValueError, match=msg):
        call()
