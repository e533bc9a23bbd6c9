"""Issue 24, inputs: every bad file given to ``python -m empirical certify`` is one line on stderr
naming the file, and exit status 2 (never a traceback, never a hang).

Checkpoints: a named pipe (which used to block the command forever), a directory, a zero-byte
file, random bytes, an .npz renamed. Codes and teacher files: a non-scalar ``format_version`` or
``n_split_rows``, complex codes (refused, not silently cast to their real part), NaN or text
``log_var``. ``--out``: a directory, or a path under a file.
"""
from __future__ import annotations

import os
import threading

import numpy as np
import pytest

from empirical.cli import main
from empirical.experiments.certify import write_codes


@pytest.fixture(scope="module")
def digits(small_digits_teacher):
    return small_digits_teacher[0]


@pytest.fixture(scope="module")
def teacher(small_digits_teacher):
    return small_digits_teacher[1:]


def _one_line_exit_2(argv, capsys, *names, timeout=60):
    box: dict = {}
    worker = threading.Thread(target=lambda: box.update(rc=main(argv)), daemon=True)
    worker.start()
    worker.join(timeout)
    assert not worker.is_alive(), f"{argv} hung"
    err = capsys.readouterr().err
    assert box["rc"] == 2, err
    assert err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err, err
    for name in names:
        assert str(name) in err, err
    return err


def _checkpoints(tmp_path):
    pipe = tmp_path / "pipe.pt"
    os.mkfifo(pipe)
    (tmp_path / "empty.pt").write_bytes(b"")
    (tmp_path / "random.pt").write_bytes(np.random.default_rng(0).bytes(4096))
    (tmp_path / "zipjunk.pt").write_bytes(b"PK\x03\x04" + np.random.default_rng(1).bytes(200))
    np.savez(tmp_path / "arrays.npz", a=np.zeros(3))
    (tmp_path / "adir.pt").mkdir()
    return {"pipe.pt": "named pipe", "empty.pt": "empty", "random.pt": "not a torch checkpoint",
            "zipjunk.pt": "not a readable torch checkpoint", "arrays.npz": "not a readable torch checkpoint",
            "adir.pt": "directory"}


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_bad_checkpoints_are_one_line_errors(tmp_path, capsys):
    for name, reason in _checkpoints(tmp_path).items():
        err = _one_line_exit_2(["certify", "--checkpoint", str(tmp_path / name)], capsys, name)
        assert reason in err, err


def test_checkpoint_loader_refuses_without_opening_a_fifo(tmp_path):
    from empirical.training.checkpoints import load_checkpoint

    os.mkfifo(tmp_path / "p.pt")
    with pytest.raises(ValueError, match=r"^checkpoint file .*p\.pt: is not a regular file \(a named pipe\)"):
        load_checkpoint(tmp_path / "p.pt", "cpu")   # would block in open() without the gate
    torch_dict = tmp_path / "dict.pt"
    import torch
    torch.save({"just": 1}, torch_dict)
    with pytest.raises(ValueError, match=r"is not a training checkpoint"):
        load_checkpoint(torch_dict, "cpu")


def _codes(digits, teacher, tmp_path, name="codes.npz", **edit):
    import witness_theory as wt

    T = teacher[1].T_test
    path = tmp_path / name
    write_codes(path, wt.exact_embedding(T, wt.Witness(T.shape[1], 16, 4.0)), dataset=digits, split="test",
                log_var=np.zeros((T.shape[0], 16)))
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files if k != "content_sha256"}   # hand-edited: no hash
    arrays.update(edit)
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize("edit, reason", [
    (lambda n: {"format_version": np.array([1, 1])}, "'format_version' must be one integer scalar"),
    (lambda n: {"n_split_rows": np.array([n, n])}, "'n_split_rows' must be one integer scalar"),
    (lambda n: {"split": np.array(["test", "train"])}, "'split' must be one text scalar"),
    (lambda n: {"log_var": np.full((n, 16), np.nan)}, "log_var contains NaN"),
    (lambda n: {"log_var": np.full((n, 16), "x")}, "log_var must hold real numbers"),
])
def test_bad_codes_files_are_one_line_errors(digits, teacher, tmp_path, capsys, edit, reason):
    path = _codes(digits, teacher, tmp_path, **edit(teacher[1].T_test.shape[0]))
    err = _one_line_exit_2(["certify", "--dataset", "digits", "--codes", str(path), "--teacher", str(teacher[0])],
                           capsys, path.name)
    assert reason in err


def test_complex_codes_are_refused_not_cast(digits, teacher, tmp_path, capsys):
    mu = np.ones((teacher[1].T_test.shape[0], 16)) * (1 + 1j)
    np.save(tmp_path / "complex.npy", mu)
    err = _one_line_exit_2(["certify", "--dataset", "digits", "--codes", str(tmp_path / "complex.npy"),
                            "--teacher", str(teacher[0])], capsys, "complex.npy")
    assert "complex" in err
    path = _codes(digits, teacher, tmp_path, name="c.npz", codes=mu)
    assert "complex" in _one_line_exit_2(["certify", "--dataset", "digits", "--codes", str(path), "--teacher",
                                          str(teacher[0])], capsys, "c.npz")


def test_teacher_with_non_scalar_format_version_is_one_line(digits, teacher, tmp_path, capsys):
    with np.load(teacher[0]) as z:
        arrays = {k: z[k] for k in z.files if k != "content_sha256"}
    arrays["format_version"] = np.array([1, 2])
    bad = tmp_path / "t.npz"
    np.savez(bad, **arrays)
    codes = _codes(digits, teacher, tmp_path)
    err = _one_line_exit_2(["certify", "--dataset", "digits", "--codes", str(codes), "--teacher", str(bad)], capsys,
                           "t.npz")
    assert "'format_version' must be one integer scalar" in err


def test_out_at_a_directory_or_under_a_file_is_one_line(digits, teacher, tmp_path, capsys):
    codes = _codes(digits, teacher, tmp_path)
    (tmp_path / "afile").write_text("x")
    for out, reason in ((tmp_path, "is a directory"), (tmp_path / "afile" / "r.json", "is a file, not a directory")):
        err = _one_line_exit_2(["certify", "--dataset", "digits", "--codes", str(codes), "--teacher", str(teacher[0]),
                                "--out", str(out)], capsys, out)
        assert reason in err and "--out" in err
    assert main(["certify", "--dataset", "digits", "--codes", str(codes), "--teacher", str(teacher[0]),
                 "--out", str(tmp_path / "new" / "r.json")]) == 0   # a missing directory is created


def test_atomic_write_refuses_a_directory_target(tmp_path):
    from empirical.io import atomic_write_text

    with pytest.raises(ValueError, match=r"is a directory"):
        atomic_write_text(tmp_path, "x")
    assert os.listdir(tmp_path) == []     # no temp file left behind


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_data_loaders_refuse_a_fifo_without_opening_it(tmp_path):
    from empirical.data.loaders import read_idx

    os.mkfifo(tmp_path / "train-images-idx3-ubyte")
    with pytest.raises(ValueError, match=r"is not a regular file \(a named pipe\)"):
        read_idx(tmp_path / "train-images-idx3-ubyte")     # would block in open() without the gate


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
@pytest.mark.parametrize("name", ["result.json", "status.json"])
def test_the_packages_own_json_files_pass_the_gate(tmp_path, capsys, name):
    """The files a sweep writes for itself (status.json, result.json) go through the same
    regular-file gate as user files: a named pipe in their place is one line naming it and
    exit 2, never a hang (``sweep-report`` reads both)."""
    from empirical.configure import resolve
    from empirical.sweep import write_trial

    tdir = write_trial(tmp_path / "sweep", "vanilla kl 1", resolve("digits", "vanilla"))
    (tdir / name).unlink(missing_ok=True)
    os.mkfifo(tdir / name)
    err = _one_line_exit_2(["sweep-report", str(tmp_path / "sweep"), "--out", str(tmp_path / "out")], capsys,
                           str(tdir / name))
    assert "is not a regular file (a named pipe)" in err


def test_the_packages_own_json_files_name_themselves_when_corrupt(tmp_path, capsys):
    """A truncated result.json (a disk full mid-write by another tool) is one line naming the file."""
    from empirical.configure import resolve
    from empirical.sweep import write_trial

    tdir = write_trial(tmp_path / "sweep", "vanilla kl 1", resolve("digits", "vanilla"))
    (tdir / "result.json").write_text('{"G_T": 1.0, ')
    err = _one_line_exit_2(["sweep-report", str(tmp_path / "sweep"), "--out", str(tmp_path / "out")], capsys,
                           str(tdir / "result.json"))
    assert "not valid JSON" in err


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_a_config_file_that_is_a_pipe_is_one_line(tmp_path, capsys):
    os.mkfifo(tmp_path / "c.toml")
    err = _one_line_exit_2(["config", "--dataset", "digits", "--config", str(tmp_path / "c.toml")], capsys,
                           str(tmp_path / "c.toml"))
    assert "is not a regular file (a named pipe)" in err


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
@pytest.mark.parametrize("name", ["config.json", "trial.json"])
def test_a_trial_whose_own_files_are_pipes_fails_naming_them(tmp_path, name):
    """run_trial reads config.json and trial.json: a pipe there is a ValueError naming it (recorded
    as the trial's failure), never a blocked worker."""
    from empirical.configure import resolve
    from empirical.sweep import run_trial, trial_state, write_trial

    tdir = write_trial(tmp_path / "sweep", "vanilla kl 1", resolve("digits", "vanilla"))
    (tdir / name).unlink()
    os.mkfifo(tdir / name)
    box: dict = {}

    def go():
        try:
            run_trial(tdir)
        except ValueError as exc:
            box["error"] = str(exc)

    worker = threading.Thread(target=go, daemon=True)
    worker.start()
    worker.join(60)
    assert not worker.is_alive(), "run_trial blocked on a named pipe"
    assert str(tdir / name) in box["error"] and "is not a regular file (a named pipe)" in box["error"]
    assert trial_state(tdir) == "failed"
