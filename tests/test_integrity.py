"""Issue 24, integrity: every array a certificate reads is covered by a content hash.

A teacher file used to be checked on its first 64 stored rows only, so swapping row 100 of
T_test changed the verdict with exit 0. Now teacher and codes files record the SHA-256 of every
array (``empirical.io.atomic_save_verified_npz``) and checkpoints the SHA-256 of every model
tensor, the config and the teacher hash; a mismatch is a ValueError naming the file and the
array. Files without a hash (older versions) load with an UnverifiedFileWarning, and a teacher
file's stored rows are compared with the recomputed responsibilities in full, so an edited
legacy teacher is refused too.
"""
from __future__ import annotations

import json
import re
import warnings

import numpy as np
import pytest

import witness_theory as wt
from empirical import io as eio
from empirical.cli import main
from empirical.data.teacher import FittedTeacher, load_teacher_file
from empirical.experiments.certify import load_codes, write_codes


@pytest.fixture(scope="module")
def digits(small_digits_teacher):
    return small_digits_teacher[0]


@pytest.fixture(scope="module")
def teacher_path(small_digits_teacher):
    return small_digits_teacher[1]


def _arrays(path):
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def _swap_rows(a, i=100, j=101):
    a = a.copy()
    a[[i, j]] = a[[j, i]]
    return a


def test_saved_teacher_records_a_hash_of_every_array(teacher_path):
    arrays = _arrays(teacher_path)
    digests = json.loads(str(arrays.pop(eio.CONTENT_KEY)))
    assert set(digests) == set(arrays) and {"T_train", "T_test", "pca_mean"} <= set(digests)
    with warnings.catch_warnings():
        warnings.simplefilter("error")      # a verified file loads without any warning
        FittedTeacher.load(teacher_path)


def test_swapped_row_100_of_T_test_is_refused_naming_the_array(digits, teacher_path, tmp_path):
    arrays = _arrays(teacher_path)
    assert not np.array_equal(arrays["T_test"][100], arrays["T_test"][101])
    arrays["T_test"] = _swap_rows(arrays["T_test"])
    bad = tmp_path / "tampered.npz"
    np.savez(bad, **arrays)           # the recorded hash is kept: it no longer matches
    with pytest.raises(ValueError, match=r"^teacher file .*tampered\.npz'?: array 'T_test' does not match its "
                                         r"recorded SHA-256"):
        load_teacher_file(bad, digits)


@pytest.mark.parametrize("change, name", [
    (lambda a: a.update(pca_mean=a["pca_mean"] + 1e-12), "pca_mean"),
    (lambda a: a.pop("T_train"), "T_train"),
    (lambda a: a.update(extra=np.zeros(3)), "extra"),
])
def test_any_changed_missing_or_added_array_is_named(teacher_path, tmp_path, change, name):
    arrays = _arrays(teacher_path)
    change(arrays)
    bad = tmp_path / "t.npz"
    np.savez(bad, **arrays)
    with pytest.raises(ValueError, match=rf"^teacher file .*t\.npz'?: array '{name}'"):
        FittedTeacher.load(bad)


def test_legacy_teacher_without_hash_loads_with_warning_and_all_rows_are_checked(digits, teacher_path, tmp_path):
    arrays = _arrays(teacher_path)
    del arrays[eio.CONTENT_KEY]
    legacy = tmp_path / "legacy.npz"
    np.savez(legacy, **arrays)
    with pytest.warns(eio.UnverifiedFileWarning, match="no content hash"):
        t = load_teacher_file(legacy, digits)
    assert np.array_equal(t.T_test, arrays["T_test"])
    # the edit the first-64-rows check missed: row 100 of a hash-less file
    arrays["T_test"] = _swap_rows(arrays["T_test"])
    np.savez(legacy, **arrays)
    with pytest.warns(eio.UnverifiedFileWarning), \
            pytest.raises(ValueError, match=r"stored T_test does not match .* \(first: row 100\)"):
        load_teacher_file(legacy, digits)


def test_certify_command_refuses_tampered_teacher_with_one_line(digits, teacher_path, tmp_path, capsys):
    T = FittedTeacher.load(teacher_path).T_test
    codes = tmp_path / "codes.npz"
    write_codes(codes, wt.exact_embedding(T, wt.Witness(T.shape[1], 16, 4.0)), dataset=digits, split="test")
    assert main(["certify", "--dataset", "digits", "--codes", str(codes), "--teacher", str(teacher_path)]) == 0
    capsys.readouterr()
    arrays = _arrays(teacher_path)
    arrays["T_test"] = _swap_rows(arrays["T_test"])
    bad = tmp_path / "tampered.npz"
    np.savez(bad, **arrays)
    assert main(["certify", "--dataset", "digits", "--codes", str(codes), "--teacher", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "tampered.npz" in err and "'T_test'" in err


def test_codes_file_hash_names_the_changed_array(digits, tmp_path):
    path = tmp_path / "codes.npz"
    mu = np.random.default_rng(0).normal(size=(digits.x_test.shape[0], 16))
    write_codes(path, mu, dataset=digits, split="test", log_var=np.zeros_like(mu))
    assert np.array_equal(load_codes(path, digits, "test"), mu)
    for name, edit in (("codes", lambda a: _swap_rows(a)), ("log_var", lambda a: a + 1.0),
                       ("row_ids", lambda a: _swap_rows(a))):
        arrays = _arrays(path)
        arrays[name] = edit(arrays[name])
        bad = tmp_path / f"bad-{name}.npz"
        np.savez(bad, **arrays)
        with pytest.raises(ValueError, match=rf"^codes file .*bad-{name}\.npz'?: array '{name}' does not match"):
            load_codes(bad, digits, "test")


def test_checkpoint_hash_covers_weights_config_and_teacher_hash(tmp_path):
    import torch

    from empirical.training.checkpoints import load_checkpoint, save_checkpoint

    model = {"enc.weight": torch.arange(6, dtype=torch.float32).reshape(2, 3), "enc.bias": torch.zeros(2)}
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, config={"a": 1}, model=model, teacher_hash="ab" * 32, epoch=1)
    ck = load_checkpoint(path, "cpu")
    assert torch.equal(ck["model"]["enc.weight"], model["enc.weight"]) and eio.CONTENT_KEY not in ck

    def tamper(edit):
        raw = torch.load(path, weights_only=False)
        edit(raw)
        torch.save(raw, tmp_path / "bad.pt")
        return tmp_path / "bad.pt"

    cases = [(lambda r: r["model"]["enc.weight"].__setitem__((1, 2), 7.0), "model.enc.weight"),
             (lambda r: r.update(config={"a": 2}), "config"),
             (lambda r: r.update(teacher_hash="cd" * 32), "teacher_hash"),
             (lambda r: r["model"].update(extra=torch.ones(1)), "model.extra")]
    for edit, name in cases:
        with pytest.raises(ValueError, match=rf"^checkpoint .*bad\.pt'?: entry '{re.escape(name)}'"):
            load_checkpoint(tamper(edit), "cpu")
    legacy = tamper(lambda r: r.pop(eio.CONTENT_KEY))
    with pytest.warns(eio.UnverifiedFileWarning, match="no content hash"):
        load_checkpoint(legacy, "cpu")


class _RunsCode:
    """Unpickling this calls ``open(marker, "w")``: what a crafted checkpoint would do."""
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_crafted_checkpoint_runs_no_code_and_numpy_entries_still_load(tmp_path):
    """load_checkpoint uses torch's restricted unpickler (weights_only=True) with only NumPy's array
    constructors allowed: a pickle that would call any other function is refused, naming the file,
    and calls nothing; our own checkpoints (NumPy RNG state and per-unit arrays) load unchanged."""
    import torch

    from empirical.training.checkpoints import load_checkpoint, save_checkpoint

    model = {"w": torch.ones(2)}
    marker = tmp_path / "ran"
    evil = tmp_path / "evil.pt"
    torch.save({"model": model, "config": {"a": 1}, "history": [_RunsCode(marker)]}, evil)
    with pytest.raises(ValueError, match=r"^checkpoint .*evil\.pt'? is not a readable torch checkpoint"):
        load_checkpoint(evil, "cpu")
    assert not marker.exists(), "loading the checkpoint ran code from it"

    good = tmp_path / "good.pt"
    state = np.random.default_rng(0).integers(0, 2 ** 32, 624, dtype=np.uint32)
    history = [{"kl_per_dim": np.linspace(0, 1, 4), "flags": np.array([True, False]), "n": np.int64(3),
                "x": np.float64(0.5)}]
    save_checkpoint(good, config={"a": 1}, model=model, rng={"numpy": ("MT19937", state, 7, 0, 0.0)}, history=history)
    ck = load_checkpoint(good, "cpu")
    assert ck["rng"]["numpy"][1].dtype == np.uint32 and np.array_equal(ck["rng"]["numpy"][1], state)
    assert np.array_equal(ck["history"][0]["kl_per_dim"], history[0]["kl_per_dim"])
    assert ck["history"][0]["flags"].dtype == bool and ck["history"][0]["n"] == 3 and ck["history"][0]["x"] == 0.5


def test_verify_content_refuses_an_unreadable_hash():
    data = {"x": np.zeros(2), eio.CONTENT_KEY: np.array(["{}", "{}"])}
    with pytest.raises(ValueError, match=r"^codes file 'c\.npz': its content hash .* is unreadable"):
        eio.verify_content(data, "codes file 'c.npz'")
