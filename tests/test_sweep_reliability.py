"""Issue 24, the sweep executors under kills and a flaky queue (empirical.sweep).

- a pool worker killed with SIGKILL breaks the process pool: the trials it was running end
  ``interrupted`` (not failed), the trials that never started run in a new pool, and a plain
  rerun (no --retry-failed) resumes the interrupted ones to the numbers of an uninterrupted run;
- the driver killed with SIGKILL takes its workers with it (no orphan keeps training), they
  record ``interrupted``, and a rerun ends with the uninterrupted numbers;
- a trial is owned by one live process (flock on ``.lock``): a second runner gets TrialBusy, a
  rerun waits for a live owner and then skips or runs the trial;
- on SLURM, a ``squeue`` that does not answer is asked again; while it never answers, a rerun
  refuses to resubmit trials with recorded jobs; after one failure the rerun adopts the queued
  jobs (no new submission) and ends with the uninterrupted numbers.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from slurm_cluster import slurm_cluster  # noqa: F401  (session fixture)

from empirical.configure import replace, resolve
from empirical.experiments.grid import Trial
from empirical.sweep import (
    ExecutorSpec,
    SweepError,
    TrialBusy,
    run_sweep,
    run_trial,
    trial_id,
    trial_owner,
    trial_state,
    write_trial,
)

METRICS = ("G_T", "L_TS", "I_T", "rec", "kl", "active_units", "mi_full", "mi_minibatch", "mean_sq_norm", "certified")
# a checkpoint after every epoch: the tests kill trials that have one (the default cadence,
# every 10 s, would leave these 1-2 s trials none until their last epoch)
OVERRIDES = ["train.epochs=6", "data.limit=300", "model.hidden=32", "train.device=cpu", "train.checkpoint_seconds=0"]


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    cache = tmp_path_factory.mktemp("teachers")
    config = resolve("digits", "vanilla", overrides=[*OVERRIDES, f"teacher.cache={cache}"])
    from empirical.training.experiment import prepare
    prepare(config)   # fills the teacher cache once, before parallel workers read it
    return config


def _trials(base, n=3):
    return [Trial("vanilla", replace(base, train__seed=s)) for s in range(n)]


@pytest.fixture(scope="module")
def reference(base, tmp_path_factory):
    """The uninterrupted numbers (in this process, one trial after the other)."""
    res = run_sweep(_trials(base), tmp_path_factory.mktemp("reference"), log=lambda m: None)
    return {r["trial_id"]: {k: r[k] for k in METRICS} for r in res.records}


def _numbers(records):
    return {r["trial_id"]: {k: r[k] for k in METRICS} for r in records}


def _status(d: Path) -> dict:
    try:
        return json.loads((d / "status.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def _wait(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:   # a zombie (killed, not yet reaped by its parent) is dead for our purpose
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def _running_with_checkpoint(dirs):
    for d in dirs:
        st = _status(d)
        if st.get("state") == "running" and (d / "checkpoint.pt").exists() and st.get("pid"):
            return d, int(st["pid"])
    return None


def test_killed_worker_interrupts_its_trial_and_the_rest_run_in_a_new_pool(base, reference, tmp_path):
    trials = _trials(base)
    dirs = [tmp_path / trial_id(t.config) for t in trials]
    box: dict = {}
    driver = threading.Thread(target=lambda: box.update(res=run_sweep(
        trials, tmp_path, executor=ExecutorSpec(workers=2, threads=1), log=lambda m: None)))
    driver.start()
    victim, pid = _wait(lambda: _running_with_checkpoint(dirs), 180, "a running trial with a checkpoint")
    os.kill(pid, signal.SIGKILL)
    driver.join(timeout=300)
    assert not driver.is_alive()
    first = box["res"]
    assert not first.failed, f"a killed worker must not fail trials: {first.failed}"
    assert victim.name in first.interrupted and trial_state(victim) == "interrupted"
    assert "worker process died" in _status(victim)["error"]
    # the trial that never started before the kill ran in the new pool (attempts 1, done)
    never = [d for d in dirs if d.name not in first.interrupted]
    assert never and all(trial_state(d) == "done" and _status(d)["attempts"] == 1 for d in never)

    again = run_sweep(trials, tmp_path, executor=ExecutorSpec(workers=2, threads=1), log=lambda m: None)
    assert sorted(again.done) == sorted(first.interrupted) and not again.failed and not again.interrupted
    assert _numbers(again.records) == reference


_DRIVER = textwrap.dedent("""
    import sys
    from empirical.configure import replace, resolve
    from empirical.experiments.grid import Trial
    from empirical.sweep import ExecutorSpec, run_sweep
    overrides, cache, out = sys.argv[1].split(";"), sys.argv[2], sys.argv[3]
    base = resolve("digits", "vanilla", overrides=[*overrides, f"teacher.cache={cache}"])
    trials = [Trial("vanilla", replace(base, train__seed=s)) for s in range(3)]
    run_sweep(trials, out, executor=ExecutorSpec(workers=2, threads=1))
""")


def test_killed_driver_takes_its_workers_with_it_and_a_rerun_finishes(base, reference, tmp_path):
    out = tmp_path / "sweep"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(__file__).resolve().parents[1]),
                                                       os.environ.get("PYTHONPATH", "")]))
    driver = subprocess.Popen([sys.executable, "-c", _DRIVER, ";".join(OVERRIDES), str(base.teacher.cache), str(out)],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        dirs = [out / trial_id(t.config) for t in _trials(base)]
        _wait(lambda: _running_with_checkpoint(dirs), 180, "a running trial with a checkpoint")
        workers = {int(_status(d)["pid"]) for d in dirs if _status(d).get("state") == "running"}
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait(timeout=30)
    finally:
        if driver.poll() is None:
            driver.kill()
    # every worker, including one that took a trial after the pids were read, ends with the driver
    _wait(lambda: all(trial_owner(d) is None for d in dirs), 45, "the trials' owners to die with their driver")
    _wait(lambda: not any(_pid_alive(p) for p in workers), 10, f"the workers {workers} to exit")
    states = {d.name: trial_state(d) for d in dirs}
    assert "running" not in states.values(), states     # each worker recorded its interruption
    assert "interrupted" in states.values() and "failed" not in states.values(), states

    again = run_sweep(_trials(base), out, executor=ExecutorSpec(workers=2, threads=1), log=lambda m: None)
    assert not again.failed and not again.interrupted and len(again.records) == 3
    assert _numbers(again.records) == reference


_TWO_SIGTERMS = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path
    from empirical import sweep
    sweep._die_with_parent(os.getppid())
    sweep._RUNNING[:] = [Path(sys.argv[1])]          # as if a trial were running
    try:
        print("ready", flush=True)
        time.sleep(60)
    except BaseException:                             # what run_trial does: record, then exit
        time.sleep(1.0)                               # a slow status write; the second SIGTERM lands here
        Path(sys.argv[1], "recorded").write_text("interrupted")
        os._exit(143)
""")


def test_a_second_sigterm_does_not_interrupt_recording_the_first(tmp_path):
    """The driver's death sends a worker two SIGTERMs (PR_SET_PDEATHSIG and the watchdog thread).
    The second must not interrupt the handler of the first while it writes "interrupted" (seen
    once in CI: a trial left "running" after its driver was killed)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(__file__).resolve().parents[1]),
                                                       os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen([sys.executable, "-c", _TWO_SIGTERMS, str(tmp_path)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert (tmp_path / "recorded").exists(), f"the second SIGTERM cut the recording short: {proc.stderr.read()[-500:]}"
    assert proc.returncode == 143


_HOLD = "import fcntl, sys, time; f = open(sys.argv[1], 'a'); fcntl.flock(f, fcntl.LOCK_EX); print('held', flush=True); " \
        "time.sleep(float(sys.argv[2]))"


def _hold_lock(trial_dir: Path, seconds: float) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", _HOLD, str(trial_dir / ".lock"), str(seconds)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_a_trial_is_owned_by_one_live_process(base, tmp_path):
    trial = _trials(base, 1)[0]
    d = write_trial(tmp_path, trial.group, trial.config)
    holder = _hold_lock(d, 60)
    try:
        assert trial_owner(d) is not None
        with pytest.raises(TrialBusy, match="is being run by"):
            run_trial(d)
        assert _status(d)["state"] == "pending" and _status(d)["attempts"] == 0   # untouched
        res = run_sweep([trial], tmp_path, executor=ExecutorSpec(lock_wait_s=0.5), log=lambda m: None)
        assert list(res.busy) == [d.name] and not res.done and trial_state(d) == "pending"
    finally:
        holder.kill()
        holder.wait()
    assert trial_owner(d) is None     # the kernel dropped the lock with its owner


def test_a_rerun_waits_for_a_live_owner_and_then_runs_the_trial(base, reference, tmp_path):
    trial = _trials(base, 1)[0]
    d = write_trial(tmp_path, trial.group, trial.config)
    holder = _hold_lock(d, 2.0)
    t0 = time.monotonic()
    try:
        res = run_sweep([trial], tmp_path, executor=ExecutorSpec(lock_wait_s=60), log=lambda m: None)
    finally:
        holder.kill()
        holder.wait()
    assert time.monotonic() - t0 >= 1.5 and res.done == [d.name] and not res.busy
    assert _numbers(res.records) == {k: v for k, v in reference.items() if k == d.name}


# ---------------------------------------------------------------------------------------
# SLURM: a squeue that does not answer
# ---------------------------------------------------------------------------------------

_SQUEUE = """#!/bin/sh
# fails while the count in FAILS is above the number of calls so far, then runs the real squeue
n=$(cat "{dir}/calls" 2>/dev/null || echo 0)
echo $((n + 1)) > "{dir}/calls"
if [ "$n" -lt "$(cat "{dir}/fails")" ]; then
  echo "squeue: error: slurm_load_jobs error: Socket timed out on send/recv operation" >&2
  exit 1
fi
exec {real} "$@"
"""


@pytest.fixture
def flaky_squeue(tmp_path, monkeypatch):
    real = shutil.which("squeue")
    if real is None:
        pytest.skip("squeue not on PATH")
    wrap = tmp_path / "bin"
    wrap.mkdir()
    (wrap / "squeue").write_text(_SQUEUE.format(dir=wrap, real=real))
    (wrap / "squeue").chmod(0o755)
    (wrap / "fails").write_text("0")
    monkeypatch.setenv("PATH", f"{wrap}{os.pathsep}{os.environ['PATH']}")

    def fail(times: int):
        (wrap / "calls").write_text("0")
        (wrap / "fails").write_text(str(times))
        return wrap
    return fail


def test_squeue_that_does_not_answer_never_causes_a_resubmission(base, reference, slurm_cluster,  # noqa: F811
                                                                    flaky_squeue, tmp_path, monkeypatch):
    from empirical.sweep import _Slurm

    monkeypatch.setattr(_Slurm, "RETRY_S", (0.1, 0.1))
    spec = ExecutorSpec(kind="slurm", cpus_per_task=1, time_min=10, poll_seconds=1.0)
    trials = _trials(base)
    # a driver that submitted the jobs and died: the trials record their job ids, the jobs run on
    dirs = [write_trial(tmp_path, t.group, t.config) for t in trials]
    submitted = _Slurm(spec, tmp_path).submit(dirs, lambda: None)
    jobs = {d.name: j for d, j in submitted.items()}

    wrap = flaky_squeue(10 ** 6)        # squeue never answers: nothing may be resubmitted
    with pytest.raises(SweepError, match="squeue did not answer after 3 tries"):
        run_sweep(trials, tmp_path, executor=spec, log=lambda m: None)
    assert {d.name: _status(d)["job_id"] for d in dirs} == jobs
    assert int((wrap / "calls").read_text()) == 3

    flaky_squeue(1)                     # one failure, then the real answer: the queued jobs are adopted
    res = run_sweep(trials, tmp_path, executor=spec, log=lambda m: None)
    # every trial still queued was adopted with its job (one that finished meanwhile was skipped)
    assert res.job_ids and all(res.job_ids[k] == jobs[k] for k in res.job_ids), "a queued trial was resubmitted"
    assert sorted([*res.job_ids, *res.skipped]) == sorted(jobs)
    assert not res.failed and not res.interrupted and _numbers(res.records) == reference
