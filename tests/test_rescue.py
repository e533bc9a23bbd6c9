"""Prevention / collapse / rescue (empirical.rescue) and the frontier distances (empirical.frontier).

The phase verdicts are tested on hand-made rows (each failure mode must be reported, with its
numbers), then one quick seed on digits runs the whole protocol through the command line, and
the frontier is computed on the models that run trained.
"""
from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from empirical.cli import main
from empirical.experiments import frontier, rescue

torch.set_num_threads(1)

I_T = 2.0


def _rows(p1, p2, p3, au=(12, 0, 10)):
    rows, g = [], 0
    for phase, margins, units in zip(rescue.PHASES, (p1, p2, p3), au):
        for e, m in enumerate(margins, 1):
            g += 1
            rows.append({"seed": 0, "phase": phase, "phase_epoch": e, "global_epoch": g, "G_T": m,
                         "L_TS": I_T - m, "I_T": I_T, "certified": m > 1e-12, "active_units": units})
    return rows


def test_phase_outcomes_as_claimed():
    cfg = rescue.RescueConfig()
    out, failures = rescue.phase_outcomes(_rows([1.0, 1.5], [0.5, 0.1, 0.015, -0.01], [0.0, 1.2]), cfg)
    assert failures == []
    assert out["p1_all_certified"] and out["p1_min_margin"] == 1.0
    # tol = 1% of I_T = 0.02: the constant regime starts at epoch 3 (G_T = 0.015), certificate lost at 4
    assert out["p2_epochs_to_constant_regime"] == 3 and out["p2_epochs_to_uncertified"] == 4
    assert out["p3_epochs_to_certified"] == 2 and out["p3_final_certified"]


@pytest.mark.parametrize("rows,expected", [
    (_rows([1.0, -0.1], [-0.5], [1.0]), "phase 1 (prevent): not certified at (epoch, G_T) [(2, -0.1)]"),
    (_rows([1.0], [0.5, 0.3], [1.0]), "phase 2 (collapse): never reached L_TS >= I_T - 0.02"),
    (_rows([1.0], [-0.5], [1.0], au=(5, 5, 5)), "active units did not drop (5 -> 5)"),
    (_rows([1.0], [-0.5], [-0.2]), "phase 3 (rescue): not certified at the end, G_T = -0.2"),
])
def test_phase_outcomes_report_each_failure(rows, expected):
    _, failures = rescue.phase_outcomes(rows, rescue.RescueConfig())
    assert any(expected in f for f in failures), failures


def test_frontier_energy_interpolation():
    s = np.linspace(0, 1, 11)
    path = SimpleNamespace(margin=np.sqrt(s) - 0.1, energy=s ** 2)
    assert frontier.frontier_energy(path, -0.5) == 0.0            # below G(0): the path spends nothing
    assert frontier.frontier_energy(path, path.margin[4]) == pytest.approx(path.energy[4], abs=1e-15)
    mid = 0.5 * (path.margin[4] + path.margin[5])
    assert path.energy[4] < frontier.frontier_energy(path, mid) < path.energy[5]
    with pytest.raises(ValueError, match="exceeds the path's maximum"):
        frontier.frontier_energy(path, 1.0)


@pytest.fixture(scope="module")
def quick_rescue(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("rescue")
    out = tmp / "out"
    rc = main(["rescue", "--quick", "--out", str(out), "--runs", str(tmp / "runs")])
    return rc, out, tmp / "runs"


def test_rescue_command_quick(quick_rescue):
    rc, out, _ = quick_rescue
    summary = json.loads((out / "outcomes.json").read_text())
    assert rc == (0 if summary["all_phases_as_claimed"] else 1)
    assert summary["failures"] == [], summary["failures"]
    o = summary["outcomes"][0]
    assert o["p1_all_certified"] and o["p3_final_certified"]
    assert o["p2_epochs_to_constant_regime"] is not None and o["p2_active_units"] < o["p1_active_units"]
    rows = json.loads((out / "epochs.json").read_text())
    assert {r["phase"] for r in rows} == set(rescue.PHASES)
    # the global epoch runs through the phases without gaps
    assert [r["global_epoch"] for r in rows] == list(range(1, len(rows) + 1))
    for name in ("outcomes.md", "outcomes.csv", "epochs.csv", "margins.png"):
        assert (out / name).stat().st_size > 0


def test_rescue_phase_configs(tmp_path):
    """Each phase is the base tree with the protocol's method, KL weight, epochs, alpha and seed
    (--set rescue.KEY=VALUE), evaluated every epoch on the test split, in its own directory."""
    from empirical.configure import resolve

    base = resolve("digits", "rst", overrides={"train.device": "cpu", "model.hidden": (32,), "train.eval_every": 5})
    cfg = rescue.RescueConfig(epochs_prevent=2, epochs_collapse=3, epochs_rescue=4, kl_stress=6.0, alpha=2.5)
    want = {"1-prevent": ("rst", 1.0, 2), "2-collapse": ("vanilla", 6.0, 3), "3-rescue": ("rst", 1.0, 4)}
    for phase, (method, kl, epochs) in want.items():
        c = rescue._phase_config(base, cfg, 7, phase, tmp_path)
        assert (c.method_name, c.train.kl_weight, c.train.epochs, c.train.seed) == (method, kl, epochs, 7)
        assert (c.train.eval_every, c.train.eval_split, c.model) == (1, "test", base.model)
        assert c.out_dir == str(tmp_path / "seed7" / phase)
        assert getattr(c.method, "alpha", 2.5) == 2.5


def test_rescue_command_rejects_unknown_own_key(tmp_path, capsys):
    assert main(["rescue", "--out", str(tmp_path / "out"), "--set", "rescue.epochs_colapse=3"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "rescue.epochs_colapse" in err[0] and "rescue.epochs_collapse" in err[0]
    assert not (tmp_path / "out").exists()


def test_frontier_on_trained_models(quick_rescue, tmp_path):
    _, _, runs = quick_rescue
    summary = frontier.run_frontier("digits", frontier.FrontierConfig(), claims_dir=runs, out_dir=tmp_path)
    assert len(summary["models"]) == 3  # the three phases of the one quick seed
    for m in summary["models"]:
        # the re-encoded certificate is the run's own final evaluation, to the last bit
        assert m["margin"] == m["summary_margin"]
        assert m["distance_scaled"] == m["energy"] - m["frontier_energy_scaled"]
        assert m["distance_interpolate"] == m["excess_energy"] - m["frontier_energy_interpolate"]
        assert m["frontier_energy_scaled"] <= summary["exact_code_energy"] * (1 + 1e-12)
    # a certified model at margin G needs at least the path's energy there on the scaled path
    # only if the path were optimal; we only check the sign convention on the collapsed model:
    collapsed = [m for m in summary["models"] if m["method"] == "vanilla"][0]
    assert collapsed["margin"] <= summary["scaled_G0"] or collapsed["frontier_energy_scaled"] < 0.05
    assert (tmp_path / "frontier.png").stat().st_size > 1000
    rows = (tmp_path / "paths.csv").read_text().splitlines()
    assert rows[0] == "mode,s,margin,energy" and len(rows) == 1 + 2 * 401
    with pytest.raises(ValueError, match="runs under .* are on digits"):
        frontier.run_frontier("fashion-mnist", frontier.FrontierConfig(), claims_dir=runs, out_dir=tmp_path / "x")


def test_frontier_command_own_settings(quick_rescue, tmp_path, capsys):
    """The command: --claims DIR and --set frontier.n_points / frontier.split."""
    _, _, runs = quick_rescue
    out = tmp_path / "f"
    assert main(["frontier", "--claims", str(runs), "--out", str(out), "--set", "frontier.n_points=11",
                 "frontier.split=train"]) == 0, capsys.readouterr()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["split"] == "train" and summary["config"] == {"split": "train", "n_points": 11, "n_optimal": 41}
    assert len((out / "paths.csv").read_text().splitlines()) == 1 + 2 * 11 and len(summary["models"]) == 3
    assert main(["frontier", "--claims", str(runs), "--out", str(tmp_path / "g"),
                 "--set", "frontier.n_points=2"]) == 2
    assert "frontier.n_points must be >= 3" in capsys.readouterr().err


def test_a_fresh_worker_finds_the_rescue_task(quick_rescue, tmp_path):
    """The sweep layer knows no experiment: a trial records its task's module, and a worker that
    imported only empirical.sweep (a fresh process, as a pool worker or a SLURM job is) loads it and
    runs the trial. Run on a copy of the quick seed's finished trial with its result removed (the
    phases resume from their checkpoints, so the record comes back with the same rows)."""
    import shutil
    import subprocess
    import sys

    _, _, runs = quick_rescue
    [trial] = [d for d in runs.iterdir() if (d / "trial.json").exists()]
    meta = json.loads((trial / "trial.json").read_text())
    assert meta["task"] == "rescue" and meta["task_module"] == "empirical.experiments.rescue"
    copy = tmp_path / trial.name
    shutil.copytree(trial, copy)
    want = json.loads((copy / "result.json").read_text())["rows"]
    (copy / "result.json").unlink()
    code = ("import sys, json; import empirical.sweep as s; "
            "assert 'empirical.experiments.rescue' not in sys.modules; "
            f"rec = s.run_trial({str(copy)!r}); print(json.dumps(len(rec['rows'])))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == len(want)
    assert json.loads((copy / "result.json").read_text())["rows"] == want
