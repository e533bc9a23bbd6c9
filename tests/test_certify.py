"""Tests of the certify path (empirical/certify.py, the certify command) and of the theorem
checks and controls on real teachers.

Tolerances: theorem checks use the ledger's own tolerances (witness_theory.theorems); the
exact-code control uses the certificate's own float-error bound |G_T - I_T| <= float_error;
the noise control needs no tolerance (strict decrease is a theorem: see real_data_checks).
"""
from __future__ import annotations

import dataclasses
import json
import sys
import types

import numpy as np
import pytest

import witness_theory as wt
from empirical.cli import main
from empirical.data.loaders import load_dataset
from empirical.data.registry import default_config
from empirical.data.teacher import teacher_for
from empirical.experiments.certify import (
    CONTROL_FLAGS,
    CodesOrderWarning,
    certify_codes,
    load_codes,
    read_codes_file,
    real_data_checks,
    write_codes,
)

REAL_CHECKS = ("T1", "T4", "T5", "T6", "T7")


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


@pytest.fixture(scope="module")
def teacher_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("teachers")


@pytest.fixture(scope="module")
def digits_teacher(digits, teacher_cache):
    """The chosen (default-search) digits teacher."""
    return teacher_for(digits, cache_dir=teacher_cache, config=default_config("digits"))


@pytest.fixture(scope="module")
def fashion_teacher(tmp_path_factory):
    """A Fashion-MNIST teacher on a reduced problem (5,000 train/test rows, 4 fits); None if absent."""
    try:
        ds = load_dataset("fashion-mnist", limit=5000)
    except FileNotFoundError:
        return None
    cfg = dataclasses.replace(default_config("fashion-mnist"), pca_dims=(16,), n_components=(10, 14),
                              subsample=2500)
    return teacher_for(ds, cache_dir=tmp_path_factory.mktemp("fm"), config=cfg)


def _real_teacher(request, name, missing_resource):
    res = request.getfixturevalue(f"{name}_teacher")
    if res is None:
        missing_resource("Fashion-MNIST is not installed (see empirical.data for where to put it)")
    return res


# ---------------------------------------------------------------------------------------
# Real-data theorem checks and controls
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["digits", "fashion"])
def test_theorems_hold_on_real_teacher(request, name, missing_resource, tmp_path):
    res = _real_teacher(request, name, missing_resource)
    out = real_data_checks(res, 4.0, tmp_path, name=name)
    assert [c["id"] for c in out["checks"]] == list(REAL_CHECKS)
    for c in out["checks"]:
        assert c["holds"], f"{c['id']} violated on the real {name} teacher: {c['worst_relation']} " \
                           f"residual {c['residual']:.3g} > tolerance {c['tolerance']:.3g}"
    # exact codes reproduce the teacher (T4), and the path is monotone (T7), stated directly too
    paths = {p["mode"]: p for p in out["paths"]}
    for mode in ("scaled", "interpolate"):
        assert np.all(np.diff(paths[mode]["margin"]) >= -1e-12), mode
        assert paths[mode]["margin"][-1] == pytest.approx(out["I_T"], abs=1e-12)
    witness = wt.Witness(res.K, 16, 4.0)
    reproduced = witness.probs(wt.exact_embedding(res.T_train, witness))
    assert np.abs(reproduced - res.T_train).max() <= 1e-12
    # files
    png = tmp_path / "margin_energy_path.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = json.loads((tmp_path / "real_data_checks.json").read_text())
    assert saved["K"] == res.K and saved["checks_hold"] is True


@pytest.mark.parametrize("name", ["digits", "fashion"])
def test_controls_on_real_teacher(request, name, missing_resource):
    res = _real_teacher(request, name, missing_resource)
    ctl = real_data_checks(res, 4.0, None, name=name)["controls"]
    # constant codes: T2 (G_T <= 0 within the ledger tolerance); a generic constant is not certified
    for row in ctl["constant"]:
        assert row["T2_holds"], row
    assert ctl["constant"][1]["G_T"] < 0 and ctl["constant"][1]["verdict"] == "not certified"
    # exact codes: G_T = I_T within the certificate's float-error bound, certified
    ex = ctl["exact"]
    assert abs(ex["G_T"] - ex["I_T"]) <= ex["float_error"] and ex["verdict"] == "certified"
    # noise of growing size (one fixed draw, scaled): strictly decreasing margin
    margins = [r["G_T"] for r in ctl["noise"]]
    assert all(b < a for a, b in zip(margins, margins[1:])), margins
    assert ctl["noise"][-1]["verdict"] == "not certified"  # sigma = 2 destroys the alignment
    # random codes, independent of the data: not certified
    assert ctl["random"]["verdict"] == "not certified" and ctl["random"]["G_T"] < 0
    assert all(ctl[k] for k in ("constant_ok", "exact_ok", "noise_ok", "random_ok"))


def test_controls_on_digits_all_pass(digits_teacher):
    out = real_data_checks(digits_teacher, 4.0, None)
    assert out["controls_ok"], {k: out["controls"][k] for k in CONTROL_FLAGS}


def test_float_error_bound_at_best_constant_code_fashion_full_split(missing_resource):
    """The best constant code mu*(Tbar) has true G_T = 0, so |computed G_T| must be within
    certify's float-error bound, and the verdict must be "not certified". (This caught a
    real bug: a BLAS ``w @ T`` marginal over 60,000 rows was off by ~2e-13, above the bound;
    witness_theory now sums pairwise and renormalises the marginal.)"""
    try:
        ds = load_dataset("fashion-mnist")
    except FileNotFoundError:
        missing_resource("Fashion-MNIST is not installed")
    cfg = dataclasses.replace(default_config("fashion-mnist"), pca_dims=(16,), n_components=(10,),
                              covariance_types=("full",), subsample=3000)
    res = teacher_for(ds, cache_dir=None, config=cfg)
    witness = wt.Witness(res.K, 16, 4.0)
    const = np.repeat(wt.best_constant_code(res.T_train, witness)[None], res.T_train.shape[0], 0)
    cert = wt.certify(res.T_train, const, witness)
    assert abs(cert.margin) <= cert.float_error, (cert.margin, cert.float_error)
    assert cert.verdict == "not certified"


# ---------------------------------------------------------------------------------------
# certify_codes
# ---------------------------------------------------------------------------------------

def test_certify_codes_reports_everything(digits_teacher):
    T = digits_teacher.T_test
    K = T.shape[1]
    rng = np.random.default_rng(0)
    for d in (K - 1, K + 4):
        witness = wt.Witness(K, d, 4.0)
        codes = wt.exact_embedding(T, witness) + 0.3 * rng.normal(size=(T.shape[0], d))
        out = certify_codes(T, codes, 4.0)
        cert = wt.certify(T, codes, witness)
        assert out["G_T"] == cert.margin and out["I_T"] == cert.teacher_information
        assert out["L_TS"] == cert.alignment_loss and out["float_error"] == cert.float_error
        assert out["verdict"] == "certified" and out["d"] == d
        assert out["size_bound_slack"] == pytest.approx(out["size_bound"] - out["G_T"], abs=0)
        assert out["size_bound_slack"] >= 0  # T8
        ids = [c["id"] for c in out["checks"]]
        assert ids == ["T1", "T2", "T3", "T4", "T5", "T6", "T7", "T8"]
        assert out["all_checks_hold"] and all({"id", "holds", "residual", "tolerance"} <= set(c) for c in out["checks"])


def test_certify_codes_verdict_is_never_collapsed(digits_teacher):
    T = digits_teacher.T_test
    out = certify_codes(T, np.zeros((T.shape[0], 16)), 4.0)
    assert out["verdict"] == "not certified" and out["G_T"] <= 0
    assert out["certified_spread"] == 0.0


def test_certify_codes_with_log_var_adds_t10(digits_teacher):
    T = digits_teacher.T_test
    codes = wt.exact_embedding(T, wt.Witness(T.shape[1], 16, 4.0))
    out = certify_codes(T, codes, 4.0, log_var=np.full(codes.shape, -1.0))
    assert "T10" in [c["id"] for c in out["checks"]] and out["all_checks_hold"]


def test_certify_codes_rejects_bad_shapes(digits_teacher):
    T = digits_teacher.T_test
    K = T.shape[1]
    with pytest.raises(ValueError, match="rows"):
        certify_codes(T, np.zeros((T.shape[0] - 1, 16)), 4.0)
    with pytest.raises(ValueError, match="K-1"):
        certify_codes(T, np.zeros((T.shape[0], K - 2)), 4.0)
    with pytest.raises(ValueError, match="witness_scale"):
        certify_codes(T, np.zeros((T.shape[0], 16)), 0.0)


def test_load_codes_formats(tmp_path):
    a = np.arange(12.0).reshape(4, 3)
    np.save(tmp_path / "a.npy", a)
    np.savez(tmp_path / "b.npz", mu=a)
    np.savez(tmp_path / "c.npz", other=a)
    np.save(tmp_path / "d.npy", np.zeros(3))
    assert np.array_equal(load_codes(tmp_path / "a.npy"), a)
    assert np.array_equal(load_codes(tmp_path / "b.npz"), a)
    with pytest.raises(ValueError, match="'codes' or 'mu'"):
        load_codes(tmp_path / "c.npz")
    with pytest.raises(ValueError, match=r"\(N, d\)"):
        load_codes(tmp_path / "d.npy")
    with pytest.raises(FileNotFoundError):
        load_codes(tmp_path / "missing.npy")


def test_codes_file_round_trip_and_reordering(digits, digits_teacher, tmp_path):
    """A permutation of a model's codes changes G_T completely; with row ids it is undone."""
    T = digits_teacher.T_test
    codes = _exact_codes(T) + np.random.default_rng(0).normal(0, 0.3, size=(T.shape[0], 16))
    right = certify_codes(T, codes, 4.0)["G_T"]
    perm = np.random.default_rng(1).permutation(T.shape[0])
    wrong = certify_codes(T, codes[perm], 4.0)["G_T"]
    assert right > 0 and wrong < right - 1.0  # row order matters: the negative control
    # written in data-set order, and written shuffled with their row ids: both load in split order
    a = write_codes(tmp_path / "a.npz", codes, dataset=digits, split="test", teacher_hash="abc")
    b = write_codes(tmp_path / "b.npz", codes[perm], dataset=digits, split="test", row_ids=perm)
    for path in (a, b):
        loaded = load_codes(path, digits, "test", require_ids=True)
        assert np.array_equal(loaded, codes)
        assert certify_codes(T, loaded, 4.0)["G_T"] == right
    f = read_codes_file(a)
    assert f.has_ids and f.split == "test" and f.teacher_hash == "abc" and f.dataset == "digits"
    assert f.split_hash == digits.split_hash("test") and f.n_split_rows == T.shape[0]
    lv = np.full_like(codes, -1.0)
    lv[:, 0] = np.arange(T.shape[0])
    c = write_codes(tmp_path / "c.npz", codes[perm], dataset=digits, split="test", row_ids=perm, log_var=lv[perm])
    _, cf = load_codes(c, digits, "test", return_file=True)
    assert np.array_equal(cf.log_var, lv) and np.array_equal(cf.codes, codes)


def test_codes_file_mismatches_are_errors_naming_the_file(digits, tmp_path):
    n = digits.x_test.shape[0]
    codes = np.zeros((n, 16))
    path = write_codes(tmp_path / "codes.npz", codes, dataset=digits, split="test")
    with pytest.raises(ValueError, match=r"codes.npz' holds codes of the test split.*--split test"):
        load_codes(path, digits, "train")
    other = load_dataset("digits", seed=1)  # same shape, other rows
    with pytest.raises(ValueError, match=r"codes.npz' was computed on other rows.*split hash differs"):
        load_codes(path, other, "test")
    part = write_codes(tmp_path / "part.npz", codes[:10], dataset=digits, split="test")
    with pytest.raises(ValueError, match=r"part.npz' encodes 10 of the 360 rows"):
        load_codes(part, digits, "test")
    with pytest.raises(ValueError, match="repeat a row"):
        write_codes(tmp_path / "dup.npz", codes[:2], dataset=digits, split="test", row_ids=[3, 3])
    with pytest.raises(ValueError, match=r"must lie in 0\.\.359"):
        write_codes(tmp_path / "far.npz", codes[:2], dataset=digits, split="test", row_ids=[0, 360])
    np.savez(tmp_path / "half.npz", codes=codes, row_ids=np.arange(n))  # ids without a hash
    with pytest.raises(ValueError, match="has row_ids but not split_hash"):
        load_codes(tmp_path / "half.npz")


def test_bare_codes_warn_or_are_refused(digits, tmp_path):
    n = digits.x_test.shape[0]
    np.save(tmp_path / "bare.npy", np.zeros((n, 16)))
    with pytest.warns(CodesOrderWarning, match=r"bare.npy' has no row ids or split hash"):
        assert load_codes(tmp_path / "bare.npy", digits, "test").shape == (n, 16)
    with pytest.raises(ValueError, match=r"row order cannot be checked.*write_codes"):
        load_codes(tmp_path / "bare.npy", digits, "test", require_ids=True)
    with pytest.raises(ValueError, match=r"has 360 rows but the train split"):
        load_codes(tmp_path / "bare.npy", digits, "train")


def test_broken_codes_files_are_one_line_errors(tmp_path):
    good = tmp_path / "good.npz"
    np.savez(good, codes=np.zeros((20, 4)))
    cases = {"trunc.npz": good.read_bytes()[:60], "empty.npy": b"", "junk.npz": b"PK\x03\x04garbage"}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(ValueError) as exc:
            load_codes(tmp_path / name)
        msg = str(exc.value)
        assert "codes file" in msg and name in msg and "\n" not in msg and "allow_pickle" not in msg
    np.save(tmp_path / "nan.npy", np.full((3, 2), np.nan))
    with pytest.raises(ValueError, match="NaN"):
        load_codes(tmp_path / "nan.npy")


# ---------------------------------------------------------------------------------------
# The certify command
# ---------------------------------------------------------------------------------------

def _exact_codes(T, d=16):
    return wt.exact_embedding(T, wt.Witness(T.shape[1], d, 4.0))


def test_certify_command_with_saved_teacher(digits_teacher, tmp_path, capsys):
    codes = tmp_path / "codes.npz"
    np.savez(codes, codes=_exact_codes(digits_teacher.T_test))
    rc = main(["certify", "--dataset", "digits", "--codes", str(codes), "--teacher", str(digits_teacher.path)])
    printed = capsys.readouterr().out
    assert rc == 0, printed
    result = json.loads((tmp_path / "codes.certificate.json").read_text())
    assert result["verdict"] == "certified" and result["split"] == "test"
    assert result["G_T"] == pytest.approx(result["I_T"], abs=result["float_error"])
    for word in ("I_T", "L_TS", "G_T", "T8 size bound", "certified", "T7"):
        assert word in printed
    # T13: exact codes carry the teacher's information; the raw bound certifies it at 95%, below G_T
    assert result["verdict_raw"] == "certified" and 0 < result["lcb_raw"] < result["G_T"]
    assert result["p_raw"] == pytest.approx(1 / 1000) and "nats at 95%" in printed


def test_certify_command_default_teacher_train_split(digits_teacher, teacher_cache, tmp_path, capsys):
    codes = tmp_path / "c.npy"
    np.save(codes, np.zeros((digits_teacher.T_train.shape[0], 16), dtype=np.float32))
    out = tmp_path / "out.json"
    rc = main(["certify", "--dataset", "digits", "--codes", str(codes), "--split", "train",
               "--set", f"teacher.cache={teacher_cache}", "--out", str(out)])
    assert rc == 0, capsys.readouterr()
    result = json.loads(out.read_text())
    assert result["verdict"] == "not certified" and result["n"] == digits_teacher.T_train.shape[0]
    assert str(digits_teacher.path) in result["source"]  # the cached default teacher was reused


@pytest.mark.parametrize("shape, message", [((100, 16), "rows"), (("n", 3), "K-1")])
def test_certify_command_validates_codes(digits_teacher, tmp_path, capsys, shape, message):
    n = digits_teacher.T_test.shape[0] if shape[0] == "n" else shape[0]
    codes = tmp_path / "bad.npy"
    np.save(codes, np.zeros((n, shape[1])))
    rc = main(["certify", "--dataset", "digits", "--codes", str(codes), "--teacher", str(digits_teacher.path)])
    assert rc == 2
    assert message in capsys.readouterr().err


def _run_certify(argv):
    """Run the certify command through its own parser only: faking ``empirical.training.evaluation``
    in sys.modules must not break the other commands' argument parsers (train imports it)."""
    import argparse

    from empirical.commands import certify as command

    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    try:
        return command.run(parser.parse_args(argv))
    except (ValueError, FileNotFoundError) as exc:  # what empirical.cli prints as a one-line error
        print(f"error: {exc}", file=sys.stderr)
        return 2


def test_certify_command_checkpoint(digits_teacher, tmp_path, monkeypatch, capsys):
    T = digits_teacher.T_test
    calls = {}

    def encode_checkpoint(path, split="test", **kwargs):
        calls["args"] = (path, split, kwargs)
        codes = _exact_codes(T)
        return {"codes": codes, "log_var": np.zeros_like(codes), "teacher": T, "witness_scale": 4.0,
                "frame": np.eye(16, T.shape[1] - 1), "teacher_hash": "0" * 64,
                "heldout": {"G_fitted": 1.0, "certified_fitted": True, "G_probe": 0.5, "certified_probe": True,
                            "heldout_split": "stub"}}

    monkeypatch.setitem(sys.modules, "empirical.training.evaluation",
                        types.SimpleNamespace(encode_checkpoint=encode_checkpoint))
    ckpt = tmp_path / "vae.pt"
    ckpt.write_bytes(b"stub")
    rc = _run_certify(["--checkpoint", str(ckpt)])
    assert rc == 0, capsys.readouterr()
    assert calls["args"] == (str(ckpt), "test", {"heldout": True, "teacher_file": None})
    result = json.loads((tmp_path / "vae.test.certificate.json").read_text())
    assert result["verdict"] == "certified" and "T10" in [c["id"] for c in result["checks"]]


def test_certify_command_checkpoint_without_train_module(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "empirical.training.evaluation", None)  # import raises ImportError
    ckpt = tmp_path / "vae.pt"
    ckpt.write_bytes(b"stub")
    assert _run_certify(["--checkpoint", str(ckpt)]) == 2
    assert "encode_checkpoint" in capsys.readouterr().err


def test_certify_command_checkpoint_of_a_real_run(tmp_path, capsys):
    """No stub: a real (tiny) training run's checkpoint, encoded by encode_checkpoint and certified
    by the command, gives the run's own final test certificate to the last bit."""
    from empirical.configure import resolve
    from empirical.training.loop import train

    config = resolve("digits", "rst", overrides={"train.epochs": 1, "data.limit": 300, "model.hidden": (32,),
                                                 "train.device": "cpu", "teacher.cache": str(tmp_path / "teachers"),
                                                 "out_dir": str(tmp_path / "run")})
    result = train(config, progress=False)
    ckpt = result.out_dir / "checkpoint.pt"
    rc = main(["certify", "--checkpoint", str(ckpt)])
    assert rc == 0, capsys.readouterr()
    cert = json.loads((result.out_dir / "checkpoint.test.certificate.json").read_text())
    assert cert["G_T"] == result.final["G_T"] and cert["I_T"] == result.final["I_T"]
    assert cert["n"] == result.final["n"] and "T10" in [c["id"] for c in cert["checks"]]


def test_certify_command_rejects_removed_options(tmp_path, capsys):
    """--cache-dir is gone (the teacher cache is --set teacher.cache=DIR): argparse exits 2."""
    with pytest.raises(SystemExit) as info:
        main(["certify", "--codes", str(tmp_path / "c.npy"), "--cache-dir", str(tmp_path)])
    assert info.value.code == 2 and "--cache-dir" in capsys.readouterr().err


def test_certify_command_needs_codes_or_checkpoint(capsys):
    assert main(["certify", "--dataset", "digits"]) == 2
    assert "exactly one of --codes" in capsys.readouterr().err
