"""Tests of empirical/io.py: the safe array-file reader, seeds, run names and atomic writes.

Every broken file is written by the test in the real on-disk format (numpy.save/savez and
then damaged), never mocked; each error must be one line naming the file and its role, and
must never suggest allow_pickle.
"""
from __future__ import annotations

import io
import os
import stat
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from empirical import io as eio
from empirical.io import parse_seeds, read_array_file, run_name


def _assert_one_line(exc: pytest.ExceptionInfo, path: Path, role: str) -> None:
    msg = str(exc.value)
    assert "\n" not in msg, msg
    assert str(path) in msg and role in msg, msg
    assert "allow_pickle" not in msg, msg


# ------------------------------------------------------------------------------ read_array_file


def test_reads_npy_and_npz(tmp_path):
    a = np.arange(12.0).reshape(3, 4)
    np.save(tmp_path / "a.npy", a)
    np.savez_compressed(tmp_path / "b.npz", x=a, y=np.arange(3))
    assert np.array_equal(read_array_file(tmp_path / "a.npy", "data set"), a)
    out = read_array_file(tmp_path / "b.npz", "data set")
    assert set(out) == {"x", "y"} and np.array_equal(out["x"], a)


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="codes file .*absent.npy"):
        read_array_file(tmp_path / "absent.npy", "codes")


@pytest.mark.parametrize("compressed", [False, True])
def test_truncated_npz(tmp_path, compressed):
    p = tmp_path / "t.npz"
    (np.savez_compressed if compressed else np.savez)(p, x=np.random.default_rng(0).random((200, 50)))
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="corrupt or truncated") as exc:
        read_array_file(p, "data set")
    _assert_one_line(exc, p, "data set")


def test_corrupt_npz_member_crc(tmp_path):
    # Flip payload bytes of a stored (uncompressed) member: the zip CRC check must catch it.
    p = tmp_path / "c.npz"
    np.savez(p, x=np.zeros((100, 10)))
    data = bytearray(p.read_bytes())
    pos = data.find(b"\x00" * 64, 200)
    data[pos:pos + 8] = b"\xff" * 8
    p.write_bytes(bytes(data))
    with pytest.raises(ValueError) as exc:
        read_array_file(p, "teacher")
    _assert_one_line(exc, p, "teacher")


def test_zero_byte_and_junk_files(tmp_path):
    for name in ("empty.npy", "empty.npz"):
        (tmp_path / name).write_bytes(b"")
        with pytest.raises(ValueError, match="empty") as exc:
            read_array_file(tmp_path / name, "codes")
        _assert_one_line(exc, tmp_path / name, "codes")
    (tmp_path / "junk.npy").write_bytes(b"hello world, not numpy")
    with pytest.raises(ValueError, match="neither a .npy array nor a .npz archive") as exc:
        read_array_file(tmp_path / "junk.npy", "data set")
    _assert_one_line(exc, tmp_path / "junk.npy", "data set")


def test_truncated_npy_payload(tmp_path):
    p = tmp_path / "short.npy"
    np.save(p, np.ones((1000, 10)))
    p.write_bytes(p.read_bytes()[:-100])
    with pytest.raises(ValueError, match="truncated or corrupt") as exc:
        read_array_file(p, "codes")
    _assert_one_line(exc, p, "codes")


def _huge_header_npy(shape) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f8", "fortran_order": False, "shape": shape})
    return buf.getvalue() + b"\x00" * 64


def test_huge_header_shape_is_refused_without_allocating(tmp_path):
    p = tmp_path / "huge.npy"
    p.write_bytes(_huge_header_npy((10**12, 10**6)))
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match=r"header says shape \(1000000000000, 1000000\)") as exc:
        read_array_file(p, "data set")
    assert time.perf_counter() - t0 < 5
    _assert_one_line(exc, p, "data set")
    # the same inside an .npz member
    z = tmp_path / "huge.npz"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("x.npy", _huge_header_npy((10**12,)))
    with pytest.raises(ValueError, match="member 'x'.*header says shape") as exc:
        read_array_file(z, "data set")
    _assert_one_line(exc, z, "data set")


def test_object_arrays_are_refused(tmp_path):
    p = tmp_path / "obj.npy"
    np.save(p, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="Python objects") as exc:
        read_array_file(p, "codes")
    _assert_one_line(exc, p, "codes")
    z = tmp_path / "obj.npz"
    np.savez(z, x=np.ones(3), meta=np.array([None, 1], dtype=object))
    with pytest.raises(ValueError, match="member 'meta'.*Python objects") as exc:
        read_array_file(z, "teacher")
    _assert_one_line(exc, z, "teacher")


def test_named_pipe_and_directory_never_hang(tmp_path):
    fifo = tmp_path / "pipe.npy"
    os.mkfifo(fifo)
    box = {}

    def target():
        try:
            read_array_file(fifo, "data set")
        except Exception as exc:  # noqa: BLE001 - recorded and checked below
            box["exc"] = exc

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(timeout=10)
    assert not worker.is_alive(), "read_array_file blocked on a named pipe"
    assert isinstance(box.get("exc"), ValueError) and "named pipe" in str(box["exc"])
    d = tmp_path / "dir.npz"
    d.mkdir()
    with pytest.raises(ValueError, match="is a directory, not a regular file"):
        read_array_file(d, "codes")


# ------------------------------------------------------------------------------ parse_seeds


@pytest.mark.parametrize("text, seeds", [
    ("5", (0, 1, 2, 3, 4)), ("1", (0,)), ("100-104", (100, 101, 102, 103, 104)), ("3,7,11", (3, 7, 11)),
    ("0-2,9", (0, 1, 2, 9)), (" 4 - 5 , 8 ", (4, 5, 8)), ("7,", None), ("", None), ("0", None),
    ("5-3", None), ("a", None), ("1,1", None), ("-1", None), ("1.5", None), ("0-2,1", None),
])
def test_parse_seeds(text, seeds):
    if seeds is None:
        with pytest.raises(ValueError, match=r"--seeds.*accepted forms"):
            parse_seeds(text)
    else:
        assert parse_seeds(text) == seeds


# ------------------------------------------------------------------------------ run_name


@pytest.mark.parametrize("given, name", [
    ("fashion-mnist", "fashion-mnist"), ("digits", "digits"), ("/abs/dir/wine.npz", "wine"),
    ("rel/x.npy", "x"), ("/data/my data (v2).npz", "my_data_v2_"), ("../..", "data"), ("/", "data"),
    (".hidden.npz", "hidden"), ("C:\\data\\w.npy", "w"), ("/tmp/tiny-imagenet-200/", "tiny-imagenet-200"),
])
def test_run_name_is_flat_and_safe(given, name, tmp_path):
    got = run_name(given)
    assert got == name
    assert "/" not in got and "\\" not in got and got not in (".", "..") and not got.startswith(".")
    # joined under a run directory it stays there
    assert (tmp_path / got).resolve().parent == tmp_path.resolve()


def test_run_name_accepts_paths():
    assert run_name(Path("/x/y/z.npz")) == "z"


# ------------------------------------------------------------------------------ atomic writes


def test_atomic_write_keeps_umask(tmp_path):
    old = os.umask(0o022)
    try:
        p = eio.atomic_write_text(tmp_path / "r.json", "{}")
        assert stat.S_IMODE(p.stat().st_mode) == 0o644
        os.umask(0o077)
        q = eio.atomic_write_text(tmp_path / "s.json", "{}")
        assert stat.S_IMODE(q.stat().st_mode) == 0o600
    finally:
        os.umask(old)


def test_orphaned_temp_files_are_cleaned_on_next_write(tmp_path):
    target = tmp_path / "summary.json"
    # a killed run: pid that is not running (pid_max is far below 2**22 on Linux defaults? use a
    # pid we know is free: a child that has exited)
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    orphan = tmp_path / f".summary.json.{dead}.abcd1234.tmp"
    orphan.write_text("partial")
    live = tmp_path / f".summary.json.{os.getppid()}.abcd5678.tmp"  # a running writer: kept
    live.write_text("in progress")
    legacy_old = tmp_path / ".summary.json.zzzz9999.tmp"
    legacy_old.write_text("old")
    old_t = time.time() - 3600
    os.utime(legacy_old, (old_t, old_t))
    legacy_new = tmp_path / ".summary.json.yyyy8888.tmp"
    legacy_new.write_text("maybe in progress")
    other = tmp_path / ".other.json.1.abcd1234.tmp"  # another target's temp file: untouched
    other.write_text("x")
    eio.atomic_write_json(target, {"a": 1})
    assert target.exists()
    assert not orphan.exists() and not legacy_old.exists()
    assert live.exists() and legacy_new.exists() and other.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".summary.json.") and
            p.name not in (live.name, legacy_new.name)] == []


def test_atomic_write_leaves_no_temp_file(tmp_path):
    eio.atomic_save_npz(tmp_path / "a.npz", x=np.zeros(3))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npz"]
