"""T6 on real models and real teachers (empirical.escape): the collapsed point, one escape step,
and a short escape trajectory through train(..., step_callback=...).

Tolerances are those of ``empirical.escape`` (GRAD_RTOL, justified there: float32 model vs float64
reference); negative controls show the checks fail when a constant is wrong and that the
weight gradient vanishes when the features carry no information about the teacher.
"""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

import witness_theory as wt
from empirical.cli import main
from empirical.experiments import escape
from empirical.models.witness_head import TorchWitness

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def digits():
    from empirical.configure import resolve
    from empirical.training.experiment import prepare

    base = resolve("digits", "rst", overrides={"train.device": "cpu"})
    config = escape._train_config(base, escape.EscapeConfig(), 0, "unused")
    assert config.method_name == "rst" and config.train.epochs == escape.EscapeConfig().epochs
    return prepare(config), config


def _collapsed(config, exp, seed=0):
    from empirical.training.experiment import build_model

    torch.manual_seed(seed)
    model = build_model(config, exp.dataset.image_shape)
    escape.collapse_model(model, wt.best_constant_code(exp.teacher_np("train"), exp.witness))
    return model


def test_collapsed_model_output_is_exactly_the_bias(digits):
    exp, config = digits
    model = _collapsed(config, exp)
    with torch.no_grad():
        mu, _ = model.encode(exp.x_train)
    assert torch.equal(mu, model.mean_layer.bias.expand_as(mu))
    # margin of a constant code is <= 0 (T1/T2): never certified
    cert = wt.certify(exp.teacher_np("train"), mu.double().numpy(), exp.witness)
    assert cert.margin <= cert.float_error and not cert.certified


@pytest.mark.parametrize("seed", [0, 1])
def test_collapse_checks_hold_on_real_model(digits, seed):
    exp, config = digits
    out = escape.collapse_checks(_collapsed(config, exp, seed), exp)
    assert all(c["holds"] for c in out["checks"].values())
    # the weight gradient is nonzero and the teacher correlates with the features
    assert out["weight_gradient_nonzero"] and out["teacher_correlates_with_features"]
    assert out["grad_mean_layer_weight_frobenius"] > 1e3 * out["tolerance_grad"]
    # measured escape force vs closed form: far inside the stated tolerance (float32 model)
    closed = out["escape_force_closed_form"]
    assert abs(out["escape_force_autograd"] - closed) < 2 * escape.GRAD_RTOL * closed
    assert out["t6_ledger"]["holds"]


def test_collapse_checks_catch_a_wrong_witness(digits):
    """Negative control: a torch head whose scale is 10% off must fail the closed-form comparison."""
    exp, config = digits
    w = exp.witness
    wrong = dataclasses.replace(exp, head=TorchWitness(wt.Witness(w.K, w.d, scale=w.scale * 1.1)))
    with pytest.raises(escape.EscapeFailure, match="autograd grad_i"):
        escape.collapse_checks(_collapsed(config, exp), wrong)


def test_weight_gradient_vanishes_without_teacher_feature_correlation(digits):
    """Negative control for "nonzero whenever the teacher correlates with the features": with one
    input repeated for every row the features are constant, C = 0, and grad_W = -beta A C = 0."""
    exp, config = digits
    same = dataclasses.replace(exp, x_train=exp.x_train[:1].expand_as(exp.x_train).contiguous())
    out = escape.collapse_checks(_collapsed(config, exp), same)
    assert out["teacher_feature_crosscov_frobenius"] < 1e-12
    # float32 rounding of sum_i g_i (zero in exact arithmetic) times h: ~1e-7 per entry
    assert out["grad_mean_layer_weight_frobenius"] < 1e-5
    assert all(c["holds"] for c in out["checks"].values())


def test_one_escape_step_certifies_digits(digits):
    exp, _ = digits
    out = escape.escape_step_check(exp.teacher_np("train"), exp.witness)
    assert out["margin_after_step"] >= out["R"] > 0 and out["certified"]
    assert out["step_size"] == 2 / (exp.witness.scale ** 2 * exp.witness.kappa)


def test_one_escape_step_certifies_fashion_mnist(missing_resource):
    from empirical.configure import resolve
    from empirical.training.experiment import prepare

    try:
        base = resolve("fashion-mnist", "rst", overrides={"data.limit": 3000, "train.device": "cpu"})
        exp = prepare(escape._train_config(base, escape.EscapeConfig(), 0, "unused"))
    except FileNotFoundError as exc:
        missing_resource(f"Fashion-MNIST not installed: {exc}")
    out = escape.escape_step_check(exp.teacher_np("train"), exp.witness)
    assert out["margin_after_step"] >= out["R"] > 0


def test_escape_step_check_fails_on_a_broken_guarantee(digits):
    """Negative control: with a constant teacher R = 0, nothing to escape to (margin 0 = R holds),
    while a step twice too long can overshoot; the ledger reports its numbers either way."""
    exp, _ = digits
    T = exp.teacher_np("train")
    flat = np.repeat(T.mean(axis=0, keepdims=True), 20, axis=0)
    out = escape.escape_step_check(flat, exp.witness)
    assert out["R"] == pytest.approx(0.0, abs=1e-15) and not out["certified"]


def test_escape_command_quick(tmp_path, capsys):
    """The CI run: 1 seed of the quick escape, through the command line. The collapsed
    initialisation it writes carries the content hash that training verifies: no
    UnverifiedFileWarning (it warned "written by an older version" for its own fresh file)."""
    import warnings

    from empirical.io import UnverifiedFileWarning
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnverifiedFileWarning)
        rc = main(["escape", "--quick", "--seeds", "1", "--out", str(tmp_path / "out"), "--runs", str(tmp_path / "runs")])
    assert rc == 0, capsys.readouterr()
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    # --quick: 2 epochs, a record every 3 steps (escape.epochs / escape.record_every), method rst
    assert summary["config"] == {"epochs": 2, "record_every": 3}
    assert summary["train_config"]["method_name"] == "rst" and summary["train_config"]["train"]["epochs"] == 2
    traj = summary["trajectories"][0]
    assert summary["all_escaped"] and not traj["initial_certified"] and traj["initial_margin"] <= 0
    assert traj["final_certified"] and traj["final_margin"] > 0
    rows = (tmp_path / "out" / "trajectories.csv").read_text().splitlines()
    assert rows[0].startswith("seed,step,margin,L_TS") and len(rows) > 3
    assert (tmp_path / "out" / "trajectories.png").stat().st_size > 1000
    # the first record is the collapsed point itself: L_TS = I_T up to float32 rounding of mubar
    first = dict(zip(rows[0].split(","), rows[1].split(",")))
    assert float(first["step"]) == 0 and abs(float(first["L_TS"]) - float(first["I_T"])) < 1e-6
    steps = [int(float(r.split(",")[1])) for r in rows[1:]]
    assert steps[:-1] == list(range(0, steps[-2] + 1, 3))


def test_escape_command_own_settings(tmp_path, capsys):
    """--set escape.KEY=VALUE sets the experiment's own settings; an unknown escape key is a
    one-line error listing the valid ones (exit 2), before anything is trained."""
    rc = main(["escape", "--seeds", "1", "--out", str(tmp_path / "out"), "--runs", str(tmp_path / "runs"),
               "--set", "escape.epochs=1", "escape.record_every=5", "data.limit=400", "model.hidden=32"])
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert rc == (0 if summary["all_escaped"] else 1), capsys.readouterr()
    assert summary["config"] == {"epochs": 1, "record_every": 5}
    assert summary["train_config"]["train"]["epochs"] == 1 and summary["train_config"]["model"]["hidden"] == [32]
    assert summary["n_train"] <= 400 and len(summary["trajectories"]) == 1
    capsys.readouterr()
    assert main(["escape", "--seeds", "1", "--out", str(tmp_path / "bad"), "--set", "escape.epoch=1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "escape.epoch" in err[0] and "escape.record_every" in err[0]
    assert not (tmp_path / "bad").exists()
