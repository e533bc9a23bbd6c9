"""A user's own arrays end to end through both command lines' experiment path:
``teacher`` -> ``claims --quick --teacher FILE --seeds ...`` -> ``certify --checkpoint --teacher FILE``,
for a 2-D table (150 rows, 4 features), 3-D grey images and channels-last colour images given
by absolute path; nothing is written next to the data file, and a checkpoint is refused against
another teacher."""
from __future__ import annotations

import json

import numpy as np
import pytest

from empirical.cli import main

LAYOUTS = {
    "table": (150, 4),            # (N, D) tabular
    "grey": (150, 8, 8),          # (N, H, W)
    "colour": (150, 32, 32, 3),   # (N, H, W, C) channels last
}


def _write(tmp_path, layout):
    rng = np.random.default_rng(0)
    shape = LAYOUTS[layout]
    centres = rng.uniform(0.2, 0.8, size=(3, *shape[1:]))       # three clusters: a teacher has something to find
    x = np.clip(centres[rng.integers(0, 3, shape[0])] + 0.05 * rng.normal(size=shape), 0, 1).astype(np.float32)
    data = tmp_path / "data"
    data.mkdir()
    path = data / f"my-{layout}.npz"
    np.savez(path, x=x)
    return path.resolve()


@pytest.mark.parametrize("layout, seeds, chosen", [("table", "3,7", [3, 7]), ("grey", "100-101", [100, 101]),
                                                   ("colour", "1", [0])])
def test_teacher_claims_certify_on_user_arrays(tmp_path, monkeypatch, capsys, layout, seeds, chosen):
    monkeypatch.chdir(tmp_path)                                  # default output folders land under tmp_path
    path = _write(tmp_path, layout)
    assert main(["teacher", "--dataset", str(path), "--set", "teacher.cache=none"]) == 0
    teacher = tmp_path / "runs" / "teacher" / f"my-{layout}" / "teacher.npz"
    assert teacher.exists()
    quick = ["model.hidden=32", "claims.methods=vanilla,rst", "claims.kl_stress="]
    rc = main(["claims", "--dataset", str(path), "--quick", "--seeds", seeds, "--teacher", str(teacher),
               "--set", *quick])
    assert rc == 0, capsys.readouterr()
    out = tmp_path / "results" / "tmp" / f"my-{layout}-quick"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["seeds"] == chosen and summary["n_runs"] == 2 * len(chosen)
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]     # nothing written next to the data
    run = tmp_path / "runs" / "quick" / "claims" / f"my-{layout}" / f"rst-kl1-seed{summary['seeds'][0]}"
    run_summary = json.loads((run / "summary.json").read_text())
    assert run_summary["teacher_hash"] == run_summary["final"]["teacher_hash"]
    capsys.readouterr()
    assert main(["certify", "--dataset", str(path), "--checkpoint", str(run / "checkpoint.pt"),
                 "--teacher", str(teacher), "--out", str(tmp_path / "cert.json")]) == 0
    cert = json.loads((tmp_path / "cert.json").read_text())
    assert cert["G_T"] == pytest.approx(run_summary["final"]["G_T"], abs=1e-12)          # the same code and teacher
    assert {"G_fitted", "G_probe", "certified_fitted", "certified_probe"} <= set(cert["heldout"])
    # another teacher (a different search seed) is refused for this checkpoint
    assert main(["teacher", "--dataset", str(path), "--set", "teacher.seed=1", "teacher.cache=none",
                 "--out", str(tmp_path / "other")]) == 0
    capsys.readouterr()
    assert main(["certify", "--dataset", str(path), "--checkpoint", str(run / "checkpoint.pt"),
                 "--teacher", str(tmp_path / "other" / "teacher.npz")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "was trained against teacher" in err[0] and "(file /" in err[0]   # the file it used


@pytest.mark.parametrize("argv, says", [
    (["claims", "--seeds", "5-3"], "runs backwards"),
    (["claims", "--seeds", "a,b"], "--seeds"),
    (["claims", "--no-such-option"], "unrecognized arguments: --no-such-option"),
    (["train", "--seeds"], None),                        # train takes no --seeds: unknown there
    (["no-such-command"], "invalid choice"),
])
def test_usage_errors_are_one_line_exit_2(capsys, argv, says):
    """argparse's own errors (bad --seeds, unknown options, commands) were the usage text plus
    an error line; now one line naming the option and pointing at -h, exit status 2."""
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "error:" in err and "-h)" in err, err
    assert says is None or says in err, err
