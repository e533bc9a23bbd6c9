"""`python -m witness_theory` (ledger) and `python -m witness_theory check FILE`."""
import json
import subprocess
import sys

import numpy as np
import pytest

from witness_theory.__main__ import main


def run(*args):
    return subprocess.run([sys.executable, "-m", "witness_theory", *args], capture_output=True, text=True)


def test_ledger_lists_all_theorems():
    out = run()
    assert out.returncode == 0
    for i in range(1, 11):
        assert f"T{i} " in out.stdout


@pytest.fixture
def teacher(tmp_path):
    T = np.random.default_rng(0).dirichlet(np.ones(6), 40)
    return T, tmp_path


@pytest.mark.parametrize("fmt", ["npy", "npz", "csv"])
def test_check_formats(teacher, fmt, capsys):
    T, tmp = teacher
    path = tmp / f"t.{fmt}"
    if fmt == "npy":
        np.save(path, T)
    elif fmt == "npz":
        np.savez(path, teacher=T)
    else:
        np.savetxt(path, T, delimiter=",")
    assert main(["check", str(path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    ids = [c["theorem"] for c in data["checks"]]
    assert ids == ["T1", "T2", "T3", "T4", "T5", "T6", "T7", "T8"]
    assert all(c["holds"] for c in data["checks"])
    from witness_theory import teacher_information
    assert data["summary"]["I_T"] == pytest.approx(teacher_information(T), rel=1e-12)


def test_check_with_zero_entries_skips_full_support(teacher, capsys):
    T, tmp = teacher
    T = T.copy()
    T[0] = [1, 0, 0, 0, 0, 0]
    np.save(tmp / "t.npy", T)
    assert main(["check", str(tmp / "t.npy")]) == 0
    out = capsys.readouterr().out
    rows = [line.split()[0] for line in out.splitlines() if line[:1] == "T"]
    assert rows == ["T1", "T2", "T3", "T6"] and "needs full support" in out


def test_check_with_codes_groups_and_weights(teacher, capsys):
    T, tmp = teacher
    rng = np.random.default_rng(1)
    np.save(tmp / "t.npy", T)
    np.save(tmp / "codes.npy", rng.normal(size=(40, 9)))
    np.save(tmp / "groups.npy", np.arange(40) % 4)
    np.save(tmp / "w.npy", rng.uniform(0.1, 1, 40))
    rc = main(["check", str(tmp / "t.npy"), "--codes", str(tmp / "codes.npy"), "--groups", str(tmp / "groups.npy"),
               "--weights", str(tmp / "w.npy"), "--witness-scale", "3", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert rc == 0 and data["summary"]["d"] == 9 and data["summary"]["verdict"] in ("certified", "not certified")
    assert "T9" in [c["theorem"] for c in data["checks"]]


@pytest.mark.parametrize("content,match", [
    (np.array([[0.5, 0.6], [0.5, 0.5]]), "sums to"),
    (np.array([[np.nan, 1.0]]), "NaN"),
    (np.array([[1.5, -0.5]]), "negative"),
])
def test_check_bad_teacher_is_a_clear_error(tmp_path, content, match, capsys):
    np.save(tmp_path / "t.npy", content)
    assert main(["check", str(tmp_path / "t.npy")]) == 2
    assert match in capsys.readouterr().err


def test_check_missing_file(tmp_path, capsys):
    assert main(["check", str(tmp_path / "none.npy")]) == 2
    assert "does not exist" in capsys.readouterr().err
