"""The sweep layer against a real SLURM (tests/slurm_cluster.py starts one) and the local pool.

- the merged table of four digits trials from the SLURM executor equals the local executor's,
  number for number (the same code runs the trial in both: empirical.sweep.run_trial);
- a trial that raises is reported failed with its message, the others still finish, and it is
  re-run only with retry_failed;
- a trial cancelled mid-way with scancel is reported interrupted and, when the sweep is run
  again, resumes from its checkpoint and ends with the numbers of an uninterrupted run;
- a second run of a finished sweep runs nothing; ids ignore placement keys.
"""
from __future__ import annotations

import json
import threading
import time

import pytest
from slurm_cluster import slurm_cluster  # noqa: F401  (session fixture)

from empirical.cli import main
from empirical.configure import replace, resolve
from empirical.experiments.grid import Trial
from empirical.experiments.sweep_report import report
from empirical.sweep import ExecutorSpec, SweepError, run_sweep, trial_id, trial_state

METRICS = ("G_T", "L_TS", "I_T", "rec", "kl", "active_units", "mi_full", "mi_minibatch", "mean_sq_norm", "certified")


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    cache = tmp_path_factory.mktemp("teachers")
    config = resolve("digits", "vanilla", overrides=["train.epochs=2", "data.limit=300", "model.hidden=32",
                                                     f"teacher.cache={cache}", "train.device=cpu"])
    from empirical.training.experiment import prepare
    prepare(config)   # fills the teacher cache once, before parallel workers read it
    return config


def _trials(base):
    return [Trial(m, replace(base, method_name=m, train__seed=s)) for m in ("vanilla", "rst") for s in (0, 1)]


def _failing(base):
    # passes resolve (a user array path), raises when the worker loads it
    return Trial("broken", replace(base, data__name="/nonexistent/witness-sweep-test.npz"))


def _slurm(**kw):
    return ExecutorSpec(kind="slurm", cpus_per_task=1, time_min=10, poll_seconds=1.0, **kw)


def test_slurm_equals_local_and_failures_are_reported(base, slurm_cluster, tmp_path):  # noqa: F811
    good, bad = _trials(base), _failing(base)
    t0 = time.perf_counter()
    on_slurm = run_sweep([*good, bad], tmp_path / "slurm", executor=_slurm())
    t_slurm = time.perf_counter() - t0
    bad_id = trial_id(bad.config)
    assert sorted(on_slurm.done) == sorted(trial_id(t.config) for t in good)
    assert list(on_slurm.failed) == [bad_id]
    assert "FileNotFoundError" in on_slurm.failed[bad_id] and "witness-sweep-test.npz" in on_slurm.failed[bad_id]
    status = json.loads((tmp_path / "slurm" / bad_id / "status.json").read_text())
    assert status["state"] == "failed" and "Traceback" in status["traceback"] and status["job_id"]
    assert all(r["trial_dir"].startswith(str(tmp_path / "slurm")) for r in on_slurm.records)

    t0 = time.perf_counter()
    local = run_sweep([*good, bad], tmp_path / "local", executor=ExecutorSpec(workers=2))
    t_local = time.perf_counter() - t0
    assert list(local.failed) == [bad_id] and len(local.records) == 4
    for a, b in zip(on_slurm.records, local.records):
        assert a["trial_id"] == b["trial_id"]
        assert {k: a[k] for k in METRICS} == {k: b[k] for k in METRICS}   # exact, not approximate
    report([tmp_path / "slurm"], tmp_path / "report-slurm", kind="summary")
    report([tmp_path / "local"], tmp_path / "report-local", kind="summary")
    for name in ("sweep_table.md", "sweep_table.csv"):
        assert (tmp_path / "report-slurm" / name).read_text() == (tmp_path / "report-local" / name).read_text()
    print(f"slurm sweep {t_slurm:.1f}s, local --workers 2 sweep {t_local:.1f}s (5 trials each, shared machine)")

    # a second run skips the done trials and lists the failed one without running it ...
    again = run_sweep([*good, bad], tmp_path / "local", executor=ExecutorSpec(workers=2))
    assert sorted(again.skipped) == sorted(on_slurm.done) and not again.done and list(again.failed) == [bad_id]
    assert json.loads((tmp_path / "local" / bad_id / "status.json").read_text())["attempts"] == 1
    # ... which runs again (and fails again) only on request
    retried = run_sweep([bad], tmp_path / "local", executor=ExecutorSpec(workers=2), retry_failed=True)
    assert list(retried.failed) == [bad_id]
    assert json.loads((tmp_path / "local" / bad_id / "status.json").read_text())["attempts"] == 2


def test_scancel_mid_run_resumes_to_the_uninterrupted_numbers(base, slurm_cluster, tmp_path):  # noqa: F811
    # a checkpoint after every epoch (the test cancels the job once one exists)
    long = Trial("long", replace(base, train__epochs=400, train__seed=3, train__checkpoint_seconds=0.0))
    tid = trial_id(long.config)
    reference = run_sweep([long], tmp_path / "reference", log=lambda m: None).records[0]   # in this process

    box: dict = {}
    driver = threading.Thread(target=lambda: box.update(res=run_sweep([long], tmp_path / "slurm",
                                                                       executor=_slurm(), log=lambda m: None)))
    driver.start()
    ckpt, status = tmp_path / "slurm" / tid / "checkpoint.pt", tmp_path / "slurm" / tid / "status.json"
    deadline = time.monotonic() + 150
    while not ckpt.exists() and time.monotonic() < deadline and driver.is_alive():
        time.sleep(0.1)
    assert ckpt.exists(), f"no checkpoint appeared: {slurm_cluster.logs()}"
    job = json.loads(status.read_text())["job_id"]
    assert slurm_cluster.run("scancel", job).returncode == 0
    driver.join(timeout=120)
    assert not driver.is_alive()
    first = box["res"]
    assert first.interrupted == [tid] and not first.records, f"not interrupted: {first}"
    assert trial_state(tmp_path / "slurm" / tid) == "interrupted"
    assert json.loads(status.read_text())["job_state"] == "CANCELLED"   # polled from squeue (issue 24)
    epochs_done = len((tmp_path / "slurm" / tid / "metrics.jsonl").read_text().splitlines())
    assert 1 <= epochs_done < 400

    resumed = run_sweep([long], tmp_path / "slurm", executor=_slurm(), log=lambda m: None)
    assert resumed.done == [tid] and json.loads(status.read_text())["attempts"] == 2
    rec = resumed.records[0]
    assert {k: rec[k] for k in METRICS} == {k: reference[k] for k in METRICS}
    print(f"cancelled after {epochs_done}/400 epochs, resumed to the uninterrupted numbers")


def test_ids_ignore_placement_and_separate_settings(base):
    a = replace(base, out_dir="/somewhere", train__device="cuda")
    assert trial_id(replace(a, teacher__cache="/other/cache")) == trial_id(base)
    assert trial_id(replace(base, train__seed=1)) != trial_id(base)
    assert trial_id(replace(base, train__kl_weight=2.0)).startswith("vanilla-kl2-seed0-")
    rescue_id = trial_id(base, "rescue", {"kl_stress": 8.0})
    assert rescue_id.startswith("rescue-seed0-") and rescue_id != trial_id(base, "rescue", {"kl_stress": 4.0})


def test_run_trials_raises_after_the_others_finish(base, tmp_path):
    from empirical.experiments.grid import run_trials

    good = _trials(base)[:1]
    with pytest.raises(SweepError, match="FileNotFoundError"):
        run_trials([*good, _failing(base)], sweep_dir=tmp_path, log=lambda m: None)
    assert trial_state(tmp_path / trial_id(good[0].config)) == "done"
    records = run_trials(good, sweep_dir=tmp_path, log=lambda m: None)   # reused, not retrained
    assert records[0]["group"] == "vanilla" and records[0]["trial_id"] == trial_id(good[0].config)


def test_sweep_command_and_report(base, tmp_path, capsys):
    args = ["sweep", "--dataset", "digits", "--method", "vanilla,rst", "--seeds", "1", "--device", "cpu",
            "--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "out"),
            "--set", "train.epochs=2", "data.limit=300", "model.hidden=32", f"teacher.cache={base.teacher.cache}"]
    assert main(args) == 0
    table = (tmp_path / "out" / "sweep_table.md").read_text()
    assert "| vanilla |" in table and "| rst |" in table
    assert main(["sweep-report", str(tmp_path / "runs"), "--out", str(tmp_path / "merged"), "--table", "summary"]) == 0
    assert (tmp_path / "merged" / "sweep_table.md").read_text() == table
    capsys.readouterr()


@pytest.mark.parametrize("extra,name", [(["--workers", "0"], "--workers"), (["--method", "nope"], "--method"),
                                        (["--executor", "slurm", "--time", "0"], "--time")])
def test_bad_arguments_are_one_line_errors(extra, name, tmp_path, capsys):
    assert main(["sweep", "--runs", str(tmp_path), "--out", str(tmp_path), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and name in err and len(err.splitlines()) == 1
