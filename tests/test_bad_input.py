"""Issue 13, "bad input gets a clear error": one regression test per reported bug.

Each input below used to give a wrong number (0, NaN, a negative KL), a raw Python/NumPy
exception (AttributeError, ZeroDivisionError, OverflowError, a broadcast error) or a
traceback on the command line; now it is a ValueError/TypeError that names the argument
(or, on the command line, a one-line error naming the file, exit status 2), or the right number.
"""
from __future__ import annotations

import os
import pickle
import re
import sys

import numpy as np
import pytest

import witness_theory as wt
from witness_theory import collapse_metrics, frontier
from witness_theory.__main__ import main
from witness_theory.io import load_array

T_OK = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]])
W3 = wt.Witness(3, 4, 1.0)
CODES = np.array([[0.3, -1.0, 0.2, 5.0], [1.0, 0.5, -0.4, 0.0]])


# ------------------------------------------------------------------ weights near 1e308
@pytest.mark.parametrize("fn", [wt.teacher_information, wt.teacher_marginal,
                                lambda T, w: wt.alignment_loss(T, CODES, W3, w),
                                lambda T, w: wt.certificate_margin(T, CODES, W3, w)])
def test_huge_weights_normalise_without_overflow(fn):
    """[1e308, 1e308] summed to inf, so every weight became 0 and I_T = L_TS = G_T = 0.
    Scaling the weights must not change any value (uniform weights): compared exactly up to
    1e-15 relative, the rounding of one division by the largest weight."""
    got = fn(T_OK, np.array([1e308, 1e308]))
    want = fn(T_OK, None)
    np.testing.assert_allclose(got, want, rtol=1e-15)
    assert np.all(np.asarray(got) != 0)


def test_huge_unequal_weights():
    w = np.array([1.5e308, 0.5e308])
    np.testing.assert_allclose(wt.teacher_marginal(T_OK, w), 0.75 * T_OK[0] + 0.25 * T_OK[1], rtol=1e-15)


# --------------------------------------------------------------------- witness argument
@pytest.mark.parametrize("bad", [None, "witness", 3, np.eye(3), W3.A])
@pytest.mark.parametrize("call", [
    lambda W: wt.certify(T_OK, CODES, W),
    lambda W: wt.alignment_loss(T_OK, CODES, W),
    lambda W: wt.exact_code(T_OK, W),
    lambda W: wt.escape_step_size(W),
    lambda W: wt.certified_spread(0.1, W),
    lambda W: wt.size_bound(CODES, W),
])
def test_witness_must_be_a_witness(bad, call):
    with pytest.raises(TypeError, match=r"^witness must be a witness_theory.Witness, got \w+; build one with"):
        call(bad)


@pytest.mark.parametrize("attr,value", [("scale", 0.0), ("scale", np.nan), ("scale", -1.0), ("K", 4),
                                        ("d", 9), ("kappa", 2.0), ("A", None), ("new", 1)])
def test_witness_is_immutable(attr, value):
    W = wt.Witness(3, 4, 2.0)
    with pytest.raises(AttributeError, match=r"Witness is immutable"):
        setattr(W, attr, value)
    assert W.scale == 2.0 and W.K == 3 and W.d == 4


def test_witness_matrices_cannot_be_edited():
    W = wt.Witness(3, 4, 1.0)
    before = W.log_probs(CODES)
    W.A[:] = 0.0          # edits a copy
    W.P[:] = 0.0
    W.V[:] = 0.0
    np.testing.assert_array_equal(W.log_probs(CODES), before)
    with pytest.raises(ValueError, match="read-only"):
        W._A[0, 0] = 1.0


def test_witness_pickles():
    W = wt.Witness(3, 4, 2.5, np.linalg.qr(np.random.default_rng(0).normal(size=(4, 2)))[0])
    W2 = pickle.loads(pickle.dumps(W))
    assert (W2.K, W2.d, W2.scale) == (3, 4, 2.5)
    np.testing.assert_array_equal(W2.A, W.A)


# -------------------------------------------------------------- huge but finite codes
@pytest.mark.parametrize("codes,scale", [([[1e308, 0.0]], 10.0), ([[1e200, -1e200]], 1e200)])
def test_huge_codes_are_an_error_not_nan(codes, scale):
    """Witness.probs([[1e308, 0]]) was NaN when the logits overflow (inf - inf in the log-softmax)."""
    W = wt.Witness(3, 2, scale)
    for f in (W.probs, W.log_probs, W.logits):
        with pytest.raises(ValueError, match=r"^codes are too large: witness_scale \* A\^T mu overflows float64"):
            f(codes)
    with pytest.raises(ValueError, match=r"^codes are too large"):
        wt.certify(np.array([[0.2, 0.3, 0.5]]), codes, W)


@pytest.mark.parametrize("K,codes", [(2, [[1e308]]), (3, [[1e308, 0.0]]), (3, [[-1e308, 1e308]])])
def test_large_finite_logits_stay_exact(K, codes):
    """Huge finite logits: the max-shifted log-softmax gives exact one-hot probabilities, no NaN."""
    W = wt.Witness(K, K - 1, 1.0)
    p = W.probs(codes)
    logits = W.logits(codes)
    want = (logits == logits.max()).astype(float)
    np.testing.assert_array_equal(p, want)


def test_clr_from_log_near_overflow():
    """The row mean of [1e308, 1e308] overflowed to inf, making clr = -inf; the centred values are 0."""
    np.testing.assert_array_equal(wt.clr_from_log([1e308, 1e308]), [0.0, 0.0])


# ----------------------------------------------------------------- steps and the scale
@pytest.mark.parametrize("step", [np.inf, -np.inf, np.nan, 0.0, -1.0])
def test_escape_step_bad_step(step):
    with pytest.raises(ValueError, match=r"^step must be a finite number > 0"):
        wt.escape_step(T_OK, np.zeros(4), W3, step=step)


@pytest.mark.parametrize("step", [None, "1", 1j])
def test_escape_step_step_type(step):
    if step is None:
        assert np.isfinite(wt.escape_step(T_OK, np.zeros(4), W3, step=step)).all()
        return
    with pytest.raises(TypeError, match=r"^step must be a real number"):
        wt.escape_step(T_OK, np.zeros(4), W3, step=step)


def test_escape_step_bound_huge_step_is_refused_not_inf():
    """step=1e300 raised OverflowError (eps ** 2 on a Python float); then the bound was +inf, and
    T6's check "held" as L_TS <= inf. Issue 24: a bound that overflows is refused, naming step."""
    with pytest.raises(ValueError, match=r"^step 1e\+300 is too large: the bound .* overflows float64 .*; use a smaller step"):
        wt.escape_step_bound(T_OK, np.zeros(4), W3, step=1e300)
    with pytest.raises(ValueError, match=r"^step 1e\+300 is too large"):
        wt.T6.check(T_OK, W3, step=1e300)
    assert np.isfinite(wt.escape_step_bound(T_OK, np.zeros(4), W3, step=1e100))   # the rearranged form: finite


def test_escape_step_bound_value_unchanged():
    """The rearranged bound L0 + R x (x/4 - 1) equals L0 - eps b R + eps^2 b^2 R / 4 to rounding
    (1e-14 relative: a handful of roundings on numbers of size ~1)."""
    c = np.array([0.1, -0.2, 0.0, 0.3])
    b2k = W3.kappa
    for eps in (0.5, 1.3, 7.0):
        q = W3.probs(c)
        R = np.mean(((T_OK - q) ** 2).sum(axis=1))
        L0 = wt.alignment_loss(T_OK, np.repeat(c[None], 2, 0), W3)
        want = L0 - eps * b2k * R + eps ** 2 * b2k ** 2 * R / 4
        assert wt.escape_step_bound(T_OK, c, W3, step=eps) == pytest.approx(want, rel=1e-14)


def test_escape_step_overflowing_codes():
    with pytest.raises(ValueError, match=r"^step 1e\+307 is too large"):
        wt.escape_step(T_OK, np.zeros(4), wt.Witness(3, 4, 1e3), step=1e307)


def test_tiny_scale():
    """witness_scale = 1e-200 is valid; beta^2 underflowed to 0 and the step size raised ZeroDivisionError."""
    W = wt.Witness(3, 4, 1e-200)
    with pytest.raises(ValueError, match=r"^witness_scale 1e-200 is too small: the escape step"):
        wt.escape_step_size(W)
    with pytest.raises(ValueError, match=r"^witness_scale 1e-200 is too small"):
        wt.escape_step(T_OK, np.zeros(4), W)
    assert wt.exact_code_energy(T_OK, W) == np.inf            # true value ~1e399
    assert wt.certified_spread(0.5, W) == np.inf
    assert np.isfinite(wt.alignment_loss(T_OK, CODES, W))


def test_huge_scale():
    """witness_scale = 1e300: beta ** 2 on a Python float raised OverflowError; the exact-code
    energy rounds to 0; the step size (~1e-600) is no normal float64, so it is refused, naming
    witness_scale (it was returned as 0.0, a step that moves nothing), and so is the bound at
    that default step; at an explicit step the bound overflows and is refused, naming step."""
    W = wt.Witness(3, 4, 1e300)
    assert wt.exact_code_energy(T_OK, W) == 0.0
    with pytest.raises(ValueError, match=r"^witness_scale 1e\+300 is too large: the escape step"):
        wt.escape_step_size(W)
    with pytest.raises(ValueError, match=r"^witness_scale 1e\+300 is too large: the escape step"):
        wt.escape_step_bound(T_OK, np.zeros(4), W)
    with pytest.raises(ValueError, match=r"^step 1e-300 is too large: the bound .* use a smaller step$"):
        wt.escape_step_bound(T_OK, np.zeros(4), W, step=1e-300)


def test_small_scale_step_exact():
    W = wt.Witness(3, 4, 1e-100)
    assert wt.escape_step_size(W) == pytest.approx(2 / (1e-200 * 1.5), rel=1e-15)


@pytest.mark.parametrize("margin,exc,msg", [(np.nan, ValueError, "finite"), (np.inf, ValueError, "finite"),
                                            (None, TypeError, "real number"), ("0.1", TypeError, "real number"),
                                            (1j, TypeError, "real number"), (True, TypeError, "real number")])
def test_certified_spread_bad_margin(margin, exc, msg):
    with pytest.raises(exc, match=rf"^margin must be a {msg}"):
        wt.certified_spread(margin, W3)


def test_certified_spread_values():
    assert wt.certified_spread(-0.1, W3) == 0.0
    assert wt.certified_spread(0.3, wt.Witness(3, 4, 2.0)) == pytest.approx((0.15 ** 2) / 3, rel=1e-15)


# ------------------------------------------------------------------------ empty inputs
@pytest.mark.parametrize("call,name", [
    (lambda: wt.code_energy(np.zeros((0, 4))), "codes"),
    (lambda: wt.subspace_energy(np.zeros((0, 4)), W3), "codes"),
    (lambda: wt.size_bound(np.zeros((0, 4)), W3), "codes"),
    (lambda: W3.probs(np.zeros((0, 4))), "codes"),
    (lambda: wt.teacher_information(np.zeros((0, 3))), "teacher"),
    (lambda: wt.kl_rows(T_OK, np.zeros((2, 0))), "log_q"),
    (lambda: wt.clr_from_log(np.zeros((2, 0))), "log_p"),
])
def test_empty_inputs(call, name):
    """Zero-row codes gave ZeroDivisionError in the energies (1.0 / 0 in the uniform weights)."""
    with pytest.raises(ValueError, match=rf"^{name} "):
        call()


# ---------------------------------------------------------------------- complex inputs
@pytest.mark.parametrize("call,name", [
    (lambda: wt.teacher_information(T_OK + 0j), "teacher"),
    (lambda: wt.alignment_loss(T_OK, CODES + 1j, W3), "codes"),
    (lambda: wt.code_energy([[1 + 2j, 0]]), "codes"),
    (lambda: wt.teacher_marginal(T_OK, [1, 1j]), "weights"),
    (lambda: wt.gaussian_kl([[1.0, 2j]]), "mu"),
    (lambda: wt.kl_rows(T_OK, np.log(T_OK) + 0j), "log_q"),
    (lambda: wt.Witness(3, 4, 1.0, np.eye(4, 2) + 0j), "frame"),
])
def test_complex_input_is_a_type_error(call, name):
    """The imaginary part used to be dropped with only a ComplexWarning."""
    with pytest.raises(TypeError, match=rf"^{name} must be real, got complex values"):
        call()


@pytest.mark.parametrize("bad", [None, "abc", [[1, "a"]], {"a": 1}, [[1.0], [1.0, 2.0]]])
def test_non_arrays(bad):
    with pytest.raises((TypeError, ValueError), match=r"^teacher must be a numeric array"):
        wt.teacher_information(bad)


# --------------------------------------------------------------------------- kl_rows
def test_kl_rows_unnormalised_log_q():
    """An unnormalised log_q gave a negative 'KL' (here -log 2 < 0)."""
    with pytest.raises(ValueError, match=r"^log_q row 0 is not normalised: exp\(log_q\) sums to 2\.0"):
        wt.kl_rows(T_OK, np.log(2 * T_OK))
    with pytest.raises(ValueError, match=r"^log_q row 0 is not normalised"):
        wt.kl_rows(T_OK, np.full(3, -np.inf))


def test_kl_rows_K_mismatch_names_both():
    with pytest.raises(ValueError, match=r"^log_q has shape \(2, 4\) but p has shape \(2, 3\)"):
        wt.kl_rows(T_OK, np.log(np.full((2, 4), 0.25)))


def test_kl_rows_still_allows_zeros():
    q = np.array([0.5, 0.5, 0.0])
    with np.errstate(divide="ignore"):
        lq = np.log(q)
    assert wt.kl_rows([[0.5, 0.5, 0.0]], lq)[0] == 0.0
    assert wt.kl_rows([[0.5, 0.0, 0.5]], lq)[0] == np.inf


# ----------------------------------------------------------------------- group labels
@pytest.mark.parametrize("labels", [[None, "a"], [None, None], [("x", 1), 2.5], [b"a", None]])
def test_any_hashable_group_labels(labels):
    """np.unique refused None (and mixed types) as labels; two distinct labels = two classes."""
    same = [0, 0] if labels[0] == labels[1] else [0, 1]
    assert wt.view_gap(T_OK, labels) == wt.view_gap(T_OK, same)
    assert wt.view_information(T_OK, labels) == wt.view_information(T_OK, same)


@pytest.mark.parametrize("labels,exc,msg", [([np.nan, 1.0], ValueError, "NaN"),
                                            ([[1], {}], TypeError, "not hashable"),
                                            (None, ValueError, "1-D array")])
def test_bad_group_labels(labels, exc, msg):
    g = np.empty(2, dtype=object)
    if labels is not None:
        g[:] = labels
    with pytest.raises(exc, match=rf"^groups .*{msg}"):
        wt.view_gap(T_OK, g if labels is not None else None)


# --------------------------------------------------------------------- sizes and names
@pytest.mark.parametrize("call", [lambda: wt.Witness(20_000), lambda: wt.simplex_vertices(10 ** 9),
                                  lambda: wt.Witness(3, 10 ** 12)])
def test_huge_sizes_are_refused_before_allocating(call):
    with pytest.raises(ValueError, match=r"over the limit of 134,217,728 entries \(1 GiB\); check K and d"):
        call()


@pytest.mark.parametrize("kw,msg", [(dict(n_clusters=0), "n_clusters"), (dict(n_clusters="4"), "n_clusters"),
                                    (dict(seed=-1), "seed"), (dict(seed=1.5), "seed")])
def test_view_gap_estimate_parameters(kw, msg):
    with pytest.raises(ValueError, match=rf"^{msg} must be an integer"):
        wt.view_gap_estimate(T_OK, np.zeros((2, 1)), **kw)


def test_margin_energy_path_mode_type():
    with pytest.raises(ValueError, match=r"^mode must be"):
        wt.margin_energy_path(T_OK, W3, mode=["scaled"])


# ------------------------------------------------------------------ files: load_array
def _npy_bytes(arr) -> bytes:
    import io
    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


def _write(path, data: bytes):
    path.write_bytes(data)
    return path


def _huge_header(shape=(10 ** 11, 10 ** 6)) -> bytes:
    d = "{'descr': '<f8', 'fortran_order': False, 'shape': %r, }" % (shape,)  # noqa: UP031 -- numpy's own header format
    d = d + " " * (118 - len(d)) + "\n"
    return b"\x93NUMPY\x01\x00" + len(d).to_bytes(2, "little") + d.encode() + b"\0" * 64


def _bad_files(tmp):
    good = _npy_bytes(T_OK)
    import io
    buf = io.BytesIO()
    np.savez(buf, teacher=T_OK)
    npz = buf.getvalue()
    objs = io.BytesIO()
    np.save(objs, np.array([None, {"a": 1}], dtype=object), allow_pickle=True)
    return {
        "zero.npy": (b"", r"is empty \(0 bytes\)"),
        "trunc.npy": (good[:-10], r"truncated \.npy \(header says 2x3 float64 = 48 bytes, file has 38 data bytes\)"),
        "header.npy": (good[:20], r"corrupt \.npy header"),
        "long.npy": (good + b"\0" * 8, r"corrupt \.npy \(header says 2x3 float64 = 48 bytes, but there are 56"),
        "magic.npy": (b"not numpy at all", r"not a \.npy file"),
        "huge.npy": (_huge_header(), r"\.npy header says 100000000000x1000000 float64 = 800,000,000,000,000,000 bytes, "
                                     r"over the limit"),
        "hugefit.npy": (_huge_header((1000, 1000)), r"truncated \.npy \(header says 1000x1000 float64 = 8,000,000"),
        "trunc.npz": (npz[: len(npz) // 2], r"not a valid \.npz \(corrupt or truncated zip archive\)"),
        "random.npz": (os.urandom(200), r"not a valid \.npz"),
        "objects.npy": (objs.getvalue(), r"\.npy holds Python objects \(dtype object\), which are not read for safety"),
        "complex.npy": (_npy_bytes(T_OK + 1j), r"\.npy holds complex numbers"),
        "text.npy": (_npy_bytes(np.array(["a", "b"])), r"\.npy holds <U1 data, not numbers"),
        "nul.csv": (b"1,2\x00\n", r"is not a text \.csv file"),
        "words.csv": (b"a,b\n", r"could not be parsed as numbers"),
        "wrong.json": (b"[1]", r"must be \.npy, \.npz, \.csv(, \.txt)?, got '\.json'"),   # the CLI also reads .txt
    }


def test_load_array_bad_files(tmp_path):
    for name, (data, msg) in _bad_files(tmp_path).items():
        path = _write(tmp_path / name, data)
        with pytest.raises(ValueError, match=rf"^teacher file {path}: {msg}") as info:
            load_array(path, "teacher")
        assert "allow_pickle" not in str(info.value) and "\n" not in str(info.value)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_load_array_fifo_does_not_hang(tmp_path):
    os.mkfifo(tmp_path / "pipe.npy")
    with pytest.raises(ValueError, match=r"is not a regular file \(a named pipe"):
        load_array(tmp_path / "pipe.npy", "teacher")   # no writer: opening it would block forever


def test_load_array_directory_and_missing(tmp_path):
    with pytest.raises(ValueError, match=r"is a directory"):
        load_array(tmp_path, "codes")
    with pytest.raises(ValueError, match=r"^codes file .*none\.npy: does not exist"):
        load_array(tmp_path / "none.npy", "codes")
    with pytest.raises(TypeError, match=r"^codes file path must be a str"):
        load_array(None, "codes")


def test_load_array_reads_good_files(tmp_path):
    np.save(tmp_path / "a.npy", T_OK)
    np.savez(tmp_path / "a.npz", teacher=T_OK, other=np.zeros(2))
    np.savetxt(tmp_path / "a.csv", T_OK, delimiter=",")
    np.testing.assert_array_equal(load_array(tmp_path / "a.npy", "teacher"), T_OK)
    np.testing.assert_array_equal(load_array(tmp_path / "a.npz", "teacher", prefer=("teacher",)), T_OK)
    np.testing.assert_array_equal(load_array(tmp_path / "a.npz", "x", key="other"), np.zeros(2))
    np.testing.assert_allclose(load_array(tmp_path / "a.csv", "teacher"), T_OK, rtol=1e-15)
    with pytest.raises(ValueError, match=r"holds several arrays \['teacher', 'other'\]; name one with --key"):
        load_array(tmp_path / "a.npz", "codes")


# ---------------------------------------------------------------------- command line
def _cli(argv, capsys):
    rc = main(argv)
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_cli_bad_files_one_line_exit_2(tmp_path, capsys):
    for name, (data, msg) in _bad_files(tmp_path).items():
        path = _write(tmp_path / name, data)
        rc, _, err = _cli(["check", str(path)], capsys)
        assert rc == 2, name
        assert err.count("\n") == 1 and err.startswith(f"error: teacher file {path}: "), err
        assert re.search(msg, err), (name, err)                       # the loader's own reason, not a generic one
        assert "Traceback" not in err and "allow_pickle" not in err


@pytest.mark.parametrize("argv,msg", [
    (["check", "{t}", "--wei", "{t}"], r"unrecognized arguments: --wei"),         # abbreviations were accepted
    (["check", "{t}", "--bogus"], r"unrecognized arguments: --bogus"),
    (["check", "{t}", "--latent-dim", "100000000"], r"over the limit of 134,217,728 entries"),
    (["check", "{t}", "--latent-dim", "0"], r"argument --latent-dim: must be an integer >= 1"),
    (["check", "{t}", "--witness-scale", "nan"], r"argument --witness-scale: must be a finite number > 0"),
    (["check", "{t}", "--witness-scale", "-1"], r"argument --witness-scale: must be a finite number > 0"),
    (["check", "{t}", "--witness-scale", "1e-200"], r"argument --witness-scale: must lie in \[1e-50, 1e\+50\]"),
    (["check", "{t}", "--codes", "{c}", "--latent-dim", "4"],
     r"^error: codes file .*: codes has latent dimension 5 but the witness expects d = 4"),
    (["check", "{t}", "--codes", "{cbig}", "--witness-scale", "10"], r"^error: codes file .*: codes are too large"),
    (["check", "{t}", "--weights", "{w}"], r"^error: weights file .*: weights has length 3 but there are 2"),
    (["check", "{t}", "--groups", "{w}"], r"^error: groups file .*: groups must be a 1-D array"),
    # a 2-D file was flattened (length 6 = 2 x 3); issue 24: refused as 2-D
    (["check", "{t}", "--weights", "{t}"], r"^error: weights file .*: weights must be a 1-D array .*got shape \(2, 3\)"),
    (["check", "{bad}"], r"^error: teacher file .*: teacher row 0 sums to"),
    (["check", "{t}", "--key", "T"], r"^error: teacher file .*: --key names an array inside an \.npz"),
    (["bogus"], r"invalid choice: 'bogus'"),
])
def test_cli_user_errors(tmp_path, capsys, argv, msg):
    np.save(tmp_path / "t.npy", T_OK)
    np.save(tmp_path / "bad.npy", 2 * T_OK)
    np.save(tmp_path / "c.npy", np.zeros((2, 4)))
    np.save(tmp_path / "cbig.npy", np.full((2, 2), 1e308))
    np.save(tmp_path / "w.npy", np.ones(3))
    files = {k: str(tmp_path / f"{k}.npy") for k in ("t", "bad", "c", "cbig", "w")}
    files["c"] = str(tmp_path / "c5.npy")
    np.save(files["c"], np.zeros((2, 5)))
    rc, _, err = _cli(["check", *[a.format(**files) for a in argv[1:]]] if argv[0] == "check" else argv, capsys)
    assert rc == 2 and err.count("\n") == 1 and err.startswith("error: "), err
    assert __import__("re").search(msg, err), err


def test_cli_subprocess_fifo_and_truncated(tmp_path):
    """The real entry point, in a subprocess with a timeout: a FIFO must not hang it."""
    import subprocess
    os.mkfifo(tmp_path / "pipe.npy")
    _write(tmp_path / "trunc.npz", b"PK\x03\x04" + b"\0" * 20)
    for name in ("pipe.npy", "trunc.npz"):
        out = subprocess.run([sys.executable, "-m", "witness_theory", "check", str(tmp_path / name)],
                             capture_output=True, text=True, timeout=60, check=False)
        assert out.returncode == 2 and "Traceback" not in out.stderr
        assert out.stderr.count("\n") == 1 and str(tmp_path / name) in out.stderr


@pytest.mark.parametrize("call", [lambda W: wt.escape_field(T_OK[:, :2] / T_OK[:, :2].sum(1, keepdims=True), [1e308, 0.0], W),
                                  lambda W: wt.escape_step_bound([[0.5, 0.5]], [1e308, 0.0], W, step=1.0)])
def test_center_overflow_names_center(call):
    """The overflow inside S(center) was reported as 'codes', which is not an argument there."""
    with pytest.raises(ValueError, match=r"^center is too large: witness_scale \* A\^T mu overflows"):
        call(wt.Witness(2, 2, 10.0))


@pytest.mark.parametrize("p", [[[1.0], [1.0, 2.0]], "abc", None])
def test_clr_ragged_names_p(p):
    """clr and exact_code looked at np.asarray(p) before validating it (a raw numpy error)."""
    for call in (lambda: wt.clr(p), lambda: wt.exact_code(p, W3)):
        with pytest.raises((ValueError, TypeError), match=r"^p must be a numeric array"):
            call()


def test_empty_path_parameter():
    with pytest.raises(ValueError, match=r"^s is empty"):
        wt.margin_energy_path(T_OK, W3, s=[])


# ------------------------------------------- the h11 witness kernel keeps these guarantees
# After the merge of h11 (one blocked kernel _witness_rows under certify, alignment_loss and
# escape_force), the kernel lost h13a's protections: overflowing logits gave a message without
# the argument name, beta ** 2 on a Python float raised OverflowError (witness_scale 1e300) and
# beta^2 kappa underflowed to 0 and was divided by (ZeroDivisionError at witness_scale 1e-200).

KERNEL = [lambda T, X, W: wt.certify(T, X, W), lambda T, X, W: wt.alignment_loss(T, X, W),
          lambda T, X, W: wt.escape_force(T, X, W), lambda T, X, W: wt.certificate_margin(T, X, W)]


def _no_nan(x):
    from dataclasses import astuple, is_dataclass
    vals = astuple(x) if is_dataclass(x) else (x,)
    return not any(isinstance(v, float) and np.isnan(v) for v in vals)


@pytest.mark.parametrize("fn", KERNEL)
@pytest.mark.parametrize("scale", [1e-200, 1e-160, 1e160, 1e300])
def test_kernel_extreme_scales_no_error_no_nan(fn, scale):
    """Valid extreme witness scales: a number (possibly 0 or inf), never NaN or a raw exception."""
    assert _no_nan(fn(T_OK, CODES, wt.Witness(3, 4, scale)))


def test_kernel_extreme_scales_match_direct_formulas():
    """The fallback path (beta^2 kappa under/overflows) computes the subspace quantities from P^T mu,
    as h13a's certify did: they agree with size_bound and subspace_energy."""
    for scale in (1e-200, 1e200):
        W = wt.Witness(3, 4, scale)
        cert = wt.certify(T_OK, CODES, W)
        assert cert.subspace_energy == pytest.approx(wt.subspace_energy(CODES, W), rel=1e-14)
        assert (cert.size_bound, cert.size_bound_trace) == pytest.approx(wt.size_bound(CODES, W), rel=1e-14)
    assert wt.certify(T_OK, CODES, wt.Witness(3, 4, 1e160)).escape_force == np.inf   # the true value ~1e320


def test_kernel_zero_teacher_entry_at_minus_inf_log_prob():
    """Logits 1.4e308 apart: log S = -inf at one outcome; a teacher entry 0 there is 0 log 0 = 0,
    not 0 * -inf = NaN in the kernel's einsum."""
    W = wt.Witness(3, 2, 1.0)
    loss = wt.alignment_loss([[0.5, 0.5, 0.0]], [[-1e308, 1e308]], W)
    want = wt.kl_rows([[0.5, 0.5, 0.0]], W.log_probs([[-1e308, 1e308]]))[0]
    assert loss == want
    # certify refuses these codes: ||mu||^2 overflows, so its energies and float-error bound would be inf
    with pytest.raises(ValueError, match=r"^codes are too large: .*scale the codes down"):
        wt.certify([[0.5, 0.5, 0.0]], [[-1e308, 1e308]], W)


@pytest.mark.parametrize("fn", KERNEL)
def test_kernel_bad_witness_and_K(fn):
    with pytest.raises(TypeError, match=r"^witness must be a witness_theory.Witness"):
        fn(T_OK, CODES, W3.A)
    with pytest.raises(ValueError, match=r"^teacher has K = 3 outcomes but the witness was built for K = 4"):
        fn(T_OK, CODES, wt.Witness(4, 4))
    with pytest.raises(ValueError, match=r"^codes are too large"):
        fn(T_OK, np.full((2, 4), 1e308), wt.Witness(3, 4, 10.0))


def test_teacher_residual_q():
    with pytest.raises(ValueError, match=r"^q has 4 entries but the teacher has K = 3"):
        wt.teacher_residual(T_OK, [0.25] * 4)
    with pytest.raises(TypeError, match=r"^q must be real"):
        wt.teacher_residual(T_OK, np.ones(3) + 0j)
    assert wt.teacher_residual(T_OK, np.full(3, 1e300)) == np.inf


# ------------------------------------------------------- held-out certificates (h10 + fuzz)
TH = np.array([[0.6, 0.3, 0.1], [0.2, 0.2, 0.6], [0.25, 0.25, 0.5], [0.1, 0.8, 0.1]])
XH = np.array([[0.3, -1.0], [1.0, 0.5], [-0.4, 0.0], [0.2, 0.9]])
CHEAP = dict(max_iter=2, scales=(1.0,), refine_scale=False)
IDS = np.arange(4)


@pytest.mark.parametrize("call,exc,msg", [
    (lambda: wt.heldout_split(10, fraction="0.5"), TypeError, r"^fraction must be a real number"),
    (lambda: wt.heldout_split(10, fraction=[0.5]), TypeError, r"^fraction must be a real number"),
    (lambda: wt.heldout_split(10 ** 30), ValueError, r"^n \(number of rows\) = 10+ is over"),
    (lambda: wt.heldout_split(10, seed=-1), ValueError, r"^seed must be an integer in \[0, 2\*\*32\)"),
    (lambda: wt.Probe(C="1").fit(TH, XH, IDS), TypeError, r"^C must be a real number"),
    (lambda: wt.Probe(C=True).fit(TH, XH, IDS), TypeError, r"^C must be a real number"),
    (lambda: wt.Probe(max_iter=10 ** 30).fit(TH, XH, IDS), ValueError, r"^max_iter must be an integer in \[1, 2\*\*31\)"),
    (lambda: wt.Probe(seed=2 ** 40).fit(TH, XH, IDS), ValueError, r"^seed must be an integer in"),
    (lambda: wt.FittedWitness(refine_scale="yes").fit(TH, XH, IDS), TypeError, r"^refine_scale must be True or False"),
    (lambda: wt.FittedWitness(scales="abc").fit(TH, XH, IDS), ValueError, r"^scales must be a numeric array"),
    (lambda: wt.FittedWitness(scales=[1.0 + 1j]).fit(TH, XH, IDS), TypeError, r"^scales must be real"),
    (lambda: wt.FittedWitness(**CHEAP).fit(TH, np.full((4, 2), 1e308), IDS), ValueError, r"^codes are too large"),
    (lambda: wt.RawWitness(wt.Witness(2, 2)).certify(TH, XH, IDS), ValueError,
     r"^teacher has K = 3 outcomes but the witness was built for K = 2"),
    (lambda: wt.RawWitness(wt.Witness(3, 2, 10.0)).certify(TH, np.full((4, 2), 1e308), IDS), ValueError,
     r"^codes are too large"),
    (lambda: wt.RawWitness(wt.Witness(3, 2)).certify(TH, XH, [[1], [1, 2]]), ValueError, r"^ids must be a 1-D array"),
    (lambda: wt.Probe().fit(TH[:2], XH[:2], [0, 1], weights=[-1.0, 1.0]), ValueError,
     r"^weights has negative entries"),
    (lambda: wt.RawWitness(W3.A).fit(TH[:2], XH[:2], [0, 1]), TypeError, r"^witness must be a witness_theory.Witness"),
    (lambda: wt.heldout_certify(TH, XH, wt.heldout_split(4), method="raw", witness=W3.A), TypeError,
     r"^witness must be a witness_theory.Witness or None"),
    (lambda: wt.RawWitness(wt.Witness(3, 2, 10.0)).fit(TH[:2], np.full((2, 2), 1e308), [0, 1]), ValueError,
     r"^codes are too large"),
    (lambda: wt.heldout_certify(TH, XH, wt.heldout_split(4), weights=[1.0, -1.0, 1.0, 1.0]), ValueError,
     r"^weights has negative entries"),
    (lambda: wt.heldout_certify(TH, XH, wt.HeldoutSplit(np.array([0]), np.array([9]), 4, 0.5, 0)), ValueError,
     r"^split.eval must be a 1-D array of integer row ids in \[0, 4\)"),
    (lambda: wt.heldout_certify(TH, XH, wt.HeldoutSplit(np.arange(4), np.arange(1), 4, 0.5, 0), method="raw",
                                witness=wt.Witness(3, 2)), ValueError, r"split.fit and split.eval share 1 row id"),
])
def test_heldout_bad_input(call, exc, msg):
    """Found by the fuzz after h10's held-out functions were exported: raw exceptions (OverflowError
    from sklearn's max_iter, LinAlgError 'SVD did not converge', an inhomogeneous-shape ValueError),
    accepted text/bool numbers, and messages naming core's 'teacher'/'codes'/'weights' instead of
    the held-out function's own arguments."""
    with pytest.raises(exc, match=msg):
        call()


def test_heldout_valid_extremes_no_nan():
    """FittedWitness.fit at witness scale 1e300 raised OverflowError (beta ** 2 on a Python float in
    the descent's step size); at 1e-200 the step 2 / (beta^2 ...) was infinite."""
    for scale in (1e300, 1e-200):
        fit = wt.FittedWitness(scales=(scale,), max_iter=2, refine_scale=False).fit(TH, XH, IDS)
        assert not np.isnan([fit.fit_margin_, fit.start_margin_]).any() and fit.scale_ == scale
    cert = wt.heldout_certify(TH, XH, wt.heldout_split(4), method="raw", witness=wt.Witness(3, 2, 1e300))
    assert _no_nan(cert)


# ------------------------------------- frontier (T11) and MI metrics: found by probing (h11)
@pytest.mark.parametrize("call,exc,msg", [
    (lambda: frontier.frontier_codes(T_OK, None, 1.0), TypeError, r"^witness must be a witness_theory.Witness"),
    (lambda: frontier.margin_energy_frontier(T_OK, "abc"), TypeError, r"^witness must be a witness_theory.Witness"),
    (lambda: frontier.min_energy(T_OK, 3, 0.1), TypeError, r"^witness must be a witness_theory.Witness"),
    (lambda: frontier.frontier_logits(T_OK, "abc"), TypeError, r"^c must be a real number"),
    (lambda: frontier.frontier_logits(T_OK, np.nan), ValueError, r"^c must be a number >= 0"),
    (lambda: frontier.frontier_dual(T_OK, W3, np.inf), ValueError, r"^lam must be a finite number >= 0"),
    (lambda: frontier.frontier_codes(T_OK, W3, "1"), TypeError, r"^lam must be a real number"),
    (lambda: frontier.min_energy(T_OK, W3, None), TypeError, r"^loss must be a real number"),
    # a computed L_TS rounds to -3e-114 at exact codes: the error says so and names the fix
    (lambda: frontier.min_energy(T_OK, W3, -2.7e-114), ValueError, r"^loss must be a number >= 0.*pass max\(0.0, loss\)"),
    (lambda: frontier.min_energy(T_OK, W3, -0.1), ValueError, r"^loss must be a number >= 0, got -0.1$"),
    (lambda: frontier.margin_energy_frontier(T_OK, W3, lambdas="abc"), ValueError, r"^lambdas must be a numeric array"),
    (lambda: frontier.default_frontier_lambdas(W3, 2.5), ValueError, r"^n \(number of multipliers\)"),
    (lambda: collapse_metrics.mutual_information_spread(CODES, np.zeros((2, 4)), repeats=np.inf), ValueError,
     r"^repeats must be an integer >= 1"),   # was OverflowError (int(inf)); repeats=1e300 looped ~forever
    (lambda: collapse_metrics.he_mutual_information(CODES, np.zeros((2, 4)), seed=0, batch_size=0.5), ValueError,
     r"^batch_size must be an integer >= 1"),
])
def test_frontier_and_mi_bad_input(call, exc, msg):
    with pytest.raises(exc, match=msg):
        call()


def test_frontier_huge_scale_no_overflow_error():
    """beta ** 2 on a Python float raised OverflowError for witness_scale 1e300 (now float64)."""
    lams = frontier.default_frontier_lambdas(wt.Witness(3, 4, 1e300))
    assert lams.shape == (13,) and not np.isnan(lams).any()


# ------------------------- issue 24: finite extreme codes whose derived quantities overflow
# certify, code_energy, size_bound, gaussian_kl and the held-out certificates returned inf
# energies/bounds and a verdict ("not certified") resting on them; the CLI printed G_T: -inf, exit 0.
HUGE = np.random.default_rng(0).normal(size=(4, 2)) * 1e300


@pytest.mark.parametrize("call,name", [
    (lambda: wt.certify(TH, HUGE, wt.Witness(3, 2)), "codes"),
    (lambda: wt.certify(TH, HUGE, wt.Witness(3, 2, 1e-300)), "codes"),
    (lambda: wt.code_energy(HUGE), "codes"),
    (lambda: wt.subspace_energy(HUGE, wt.Witness(3, 2)), "codes"),
    (lambda: wt.size_bound(HUGE, wt.Witness(3, 2)), "codes"),
    (lambda: wt.gaussian_kl(HUGE), "mu"),
    (lambda: wt.Probe(max_iter=5).fit(TH, HUGE, IDS), "codes"),
    (lambda: wt.FittedWitness(**CHEAP).fit(TH, HUGE, IDS), "codes"),
    (lambda: wt.RawWitness(wt.Witness(3, 2)).fit(TH[:2], HUGE[:2], [0, 1]), "codes"),
    (lambda: wt.RawWitness(wt.Witness(3, 2)).fit(TH[:2], XH[:2], [0, 1]).certify(TH[2:], HUGE[2:], [2, 3]), "codes"),
])
def test_huge_finite_codes_are_refused(call, name):
    with pytest.raises(ValueError, match=rf"^{name} are too large: .*overflows float64.*scale the codes down"):
        call()


def test_gaussian_kl_huge_log_var_refused():
    with pytest.raises(ValueError, match=r"^log_var is too large"):
        wt.gaussian_kl(np.zeros((1, 2)), np.full((1, 2), 1e300))
    assert np.isfinite(wt.gaussian_kl(np.full((1, 2), 1e150))).all()     # large but representable: a number


def test_cli_huge_codes_exit_2(tmp_path):
    from witness_theory.__main__ import main
    np.save(tmp_path / "T.npy", TH)
    np.save(tmp_path / "c.npy", np.full((4, 2), 1e308))
    import io
    from contextlib import redirect_stderr, redirect_stdout
    err, out = io.StringIO(), io.StringIO()
    with redirect_stderr(err), redirect_stdout(out):
        # beta 1: the command's default when this was written (now witness_theory.defaults)
        rc = main(["check", str(tmp_path / "T.npy"), "--codes", str(tmp_path / "c.npy"), "--witness-scale", "1"])
    assert rc == 2 and "-inf" not in out.getvalue()
    assert err.getvalue().count("\n") == 1 and "codes are too large" in err.getvalue()
    assert "scale the codes down" in err.getvalue()
