"""The method plug-in shape: the port changed no number, a new method needs no package edit,
and the remedies' schedules and rules behave as their sources define them."""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from empirical.cli import main
from empirical.configure import replace, resolve
from empirical.experiments.claims import ClaimsConfig, run_claims
from empirical.methods import Method, MethodConfig, elbo_terms, method_names, register
from empirical.training.experiment import prepare
from empirical.training.loop import train

GOLDEN = Path(__file__).parent / "data" / "port_golden.json"
sys.path.insert(0, str(GOLDEN.parent))
from measure_port_spread import port_metrics  # noqa: E402  (tests/data is not a package)


@pytest.fixture(scope="module")
def teacher_cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp("teachers"))


# The port golden was recorded on one machine. Another CPU, or other torch kernels on this one,
# round differently, and three epochs of training carry that rounding into every metric, so the
# golden is compared with a tolerance: SPREAD_FACTOR times the largest relative deviation measured
# under three kernel settings (tests/data/port_spread.json, made by
# tests/data/measure_port_spread.py: at most 1.9e-7 for three runs, 1.1e-4 for
# rst-alpha-prefit at kl_weight 8, which sits near collapse and amplifies rounding), never less
# than RTOL_FLOOR. A port error (a changed formula, a moved RNG draw) moves these numbers by far
# more: the run that moves least under a one-ulp change of its inputs still moved by 1e-7.
SPREAD = json.loads((Path(__file__).parent / "data" / "port_spread.json").read_text())["per_run_max"]
SPREAD_FACTOR = 10.0
RTOL_FLOOR = 1e-6
# A margin is a difference of two O(1) terms, I_T - L (-0.046 = 2.58 - 2.63 for vanilla-kl1): rounding moves
# it by an amount relative to its terms, not to itself, so it gets the tolerance of its terms, rtol (|L| +
# |I_T|) with I_T = L + margin. Measured 2026-12-07 on an AMD EPYC under ATEN_CPU_CAPABILITY=default and one
# thread (CI's second pass): vanilla-kl1's history running_margin moved by 6.0e-8, 1.3e-6 of itself (over the
# 1.2e-6 its own relative tolerance allowed) but 2.3e-8 of its term train_align. The spread above was
# measured on the final metrics only, where G_T is farther from 0.
MARGIN_TERMS = {"G_T": "L_TS", "running_margin": "train_align"}


def _assert_metrics_close(got: dict, want: dict, rtol: float, atol: float, what: str):
    """``got`` == ``want`` key by key within rtol |want| + atol; a margin within rtol (|L| + |I_T|)."""
    for k, w in want.items():
        tol = rtol * abs(w) + atol
        if k in MARGIN_TERMS and MARGIN_TERMS[k] in want:
            loss = want[MARGIN_TERMS[k]]
            tol = rtol * (abs(loss) + abs(loss + w)) + atol
        assert abs(got[k] - w) <= tol, f"{what}: {k} = {got[k]!r}, recorded {w!r} (tolerance {tol:.3g})"


@pytest.mark.recorded
def test_port_changed_no_number(teacher_cache, tmp_path):
    """Four short digits runs recorded with the pre-refactor code (tests/data/record_port_golden.py)
    give the same metrics through the plug-in loop, within the measured kernel spread (above).
    Bit-for-bit equality is asserted only where it is guaranteed: the same run twice in this
    process (test_port_run_is_deterministic_in_process)."""
    golden = json.loads(GOLDEN.read_text())
    got_all = port_metrics(teacher_cache, str(tmp_path))
    for key, want in golden["runs"].items():
        rtol = max(SPREAD_FACTOR * SPREAD[key], RTOL_FLOOR)
        got = got_all[key]
        _assert_metrics_close(got["final"], want["final"], rtol, 0.0, f"{key} (rtol {rtol:.1e})")
        assert len(got["history"]) == len(want["history"]), f"{key}: {len(got['history'])} epochs recorded"
        for h_got, h_want in zip(got["history"], want["history"]):
            _assert_metrics_close(h_got, h_want, rtol, 1e-12, f"{key} history (rtol {rtol:.1e})")


def test_port_run_is_deterministic_in_process(teacher_cache, tmp_path):
    """Determinism, where it is guaranteed: one port run twice in one process, bit for bit."""
    base = resolve("digits", "vanilla", overrides={"train.epochs": 2, "train.seed": 7, "train.device": "cpu",
                                                   "data.limit": 400, "teacher.cache": teacher_cache})
    exp = prepare(base)
    runs = [train(replace(base, out_dir=str(tmp_path / f"r{i}")), experiment=exp, progress=False, resume=False)
            for i in range(2)]
    keys = ("L_TS", "G_T", "rec", "kl", "energy", "mi_minibatch")
    assert [runs[0].final[k] for k in keys] == [runs[1].final[k] for k in keys]
    scalar = [k for k, v in runs[0].history[0].items() if isinstance(v, (int, float)) and "time" not in k and "seconds" not in k]
    assert len(scalar) > 5
    assert [[h[k] for k in scalar] for h in runs[0].history] == [[h[k] for k in scalar] for h in runs[1].history]


# -- a new method, defined here alone (no package file edited) -----------------------------
@register
class HalfKL(Method):
    name = "toy-half-kl"
    summary = "rec + kl_weight * KL / 2 (a test plug-in)"
    source = "tests/test_methods_plugin.py"

    @dataclass
    class Config(MethodConfig):
        factor: float = 0.5          # multiplies the KL term

    def loss(self, model, batch, epoch, run):
        t = elbo_terms(model, batch, run.head, align_in_loss=False)
        t["total"] = t["rec"] + self.config.factor * self.kl_weight * t["kl"]
        return {k: v for k, v in t.items() if not k.startswith("_")}
# -------------------------------------------------------------------------------------------


def test_toy_method_trains_through_train_and_claims(teacher_cache, tmp_path, capsys):
    assert "toy-half-kl" in method_names()
    quick = {"train.epochs": 2, "data.limit": 300, "model.hidden": (32,), "train.device": "cpu",
             "teacher.cache": teacher_cache}
    base = resolve("digits", "toy-half-kl", overrides={**quick, "method.factor": 0.25})
    assert base.method.factor == 0.25
    r = train(replace(base, out_dir=str(tmp_path / "run")), progress=False)
    assert r.history[-1]["train_total"] < r.history[0]["train_total"]
    assert json.loads((tmp_path / "run" / "config.json").read_text())["method"] == {"factor": 0.25}
    summary = run_claims(resolve("digits", "vanilla", overrides=quick),
                         ClaimsConfig(methods=("vanilla", "toy-half-kl"), kl_stress=()), seeds=(0,),
                         out_dir=tmp_path / "claims", runs_dir=tmp_path / "claims-runs", progress=False, log=print)
    table = (tmp_path / "claims" / "certificate_table.md").read_text()
    assert "| toy-half-kl | 1 |" in table and summary["n_runs"] == 2
    assert main(["methods"]) == 0 and "toy-half-kl" in capsys.readouterr().out
    assert main(["train", "--method", "toy-half-kl", "--set", *(f"{k}={v}" for k, v in quick.items()),
                 "model.hidden=32", "method.factor=2", "--out", str(tmp_path / "cli")]) == 0
    assert json.loads((tmp_path / "cli" / "config.json").read_text())["method"] == {"factor": 2.0}


def test_every_command_accepts_the_same_tree_keys_and_rejects_unknown_ones(capsys):
    for command in ("train", "claims", "compare", "escape", "rescue", "linear", "config"):
        assert main([command, "--set", "train.epochz=3"]) == 2, command
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "unknown key" in err[0] and "train.epochs" in err[0], (command, err)
    for command in ("certify", "teacher", "frontier"):       # these never train: a train.* key would be ignored
        assert main([command, "--set", "train.epochs=3"]) == 2, command
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "does not use it" in err[0], (command, err)
    assert main(["claims", "--set", "escape.epochs=3"]) == 2
    assert "this command's own keys: claims.methods" in capsys.readouterr().err


def test_kl_anneal_schedule_reaches_the_target_after_warm_up(teacher_cache, tmp_path):
    c = resolve("digits", "kl-anneal", overrides={"train.epochs": 3, "data.limit": 256, "model.hidden": (16,),
                                                    "train.batch_size": 64, "train.kl_weight": 2.0,
                                                    "method.warm_up": 2, "method.kl_start": 0.5,
                                                    "train.device": "cpu", "teacher.cache": teacher_cache})
    r = train(replace(c, out_dir=str(tmp_path / "a")), progress=False)
    weights = [h["kl_weight_eff"] for h in r.history]     # 4 batches per epoch, 8 steps to the target
    assert weights == pytest.approx([0.5 + 4 * 1.5 / 8, 2.0, 2.0], abs=1e-12)


def test_aggressive_runs_inner_encoder_steps_and_stops_by_its_rule(teacher_cache, tmp_path):
    c = resolve("digits", "aggressive", overrides={"train.epochs": 3, "data.limit": 256, "model.hidden": (16,),
                                                     "train.batch_size": 64, "method.patience": 1,
                                                     "method.max_inner_steps": 12, "method.check_every": 3,
                                                     "train.device": "cpu", "teacher.cache": teacher_cache})
    r = train(replace(c, out_dir=str(tmp_path / "a")), progress=False)
    h = r.history
    assert h[0]["phase"] == "aggressive" and h[0]["inner_steps"] >= 4 * 3     # >= one block per batch
    assert all(x["inner_steps"] <= 4 * 11 for x in h)                          # sub_iter < max_inner_steps
    # He et al.'s rule: aggressive phase ends after `patience` epochs without a new best held-out MI
    for prev, cur in zip(h, h[1:]):
        if prev["phase"] == "elbo":
            assert cur["phase"] == "elbo" and cur["inner_steps"] == 0
    mis = [x.get("heldout_mi") for x in h if x["phase"] == "aggressive"]
    assert all(m is not None for m in mis)
