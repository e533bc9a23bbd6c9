"""Sweeps: a grid of trials run by one layer, on this machine or on a SLURM cluster.

A *trial* is a full config of the tree (``empirical.config``) and the table row it belongs to.
Its id is a readable prefix plus a short SHA-256 of its resolved config, leaving out the keys
that say *where* it runs, not *what* it computes (``out_dir``, ``train.device``,
``teacher.cache``, ``data.root``), so the same trial has the same id on a laptop and on a
cluster. Its directory is the run directory the grid names (``config.out_dir``: claims and
compare keep their layouts), else ``<sweep_dir>/<id>``::

    <trial dir>/config.json    the resolved config (config_from_dict reads it back)
                     trial.json     id, group (the table row), task (train | rescue)
                     status.json    pending | running | done | failed | interrupted, with the
                                    error message and traceback of a failure, host, pid, job id
                     checkpoint.pt, metrics.jsonl, summary.json, versions.json
                                    the trial is the run directory of empirical.training.loop.train
                                    (a rescue trial: seed<s>/<phase>/ run directories)
                     result.json    the record (written atomically, last)

:func:`run_trial` is the worker: importable and picklable (submitit pickles it), it rebuilds the
config from ``config.json``, prepares the experiment, trains (resuming from ``checkpoint.pt``)
and writes ``result.json``. :func:`run_sweep` is the driver: a trial with a result is skipped, a
failed one is listed with its error and re-run only with ``retry_failed``, every other one runs
(an interrupted one resumes from its checkpoint). Executors: ``local`` (in this process for one
worker, a spawn process pool with ``workers`` processes otherwise, each pinned to its share of
the CPU threads) and ``slurm`` (submitit: one job array; the trial directories, not submitit's
bookkeeping, say how each trial ended, so a cancelled job needs no accounting database).

Reliability (issue 24). A trial is owned by one live process: :func:`run_trial` holds an
exclusive ``fcntl.flock`` on ``<trial dir>/.lock`` (holding the owner's pid and host) while it
runs; the kernel drops the lock when the owner dies, so no stale lock survives a kill. A second
process that finds the lock held raises :class:`TrialBusy` without touching the trial, and the
driver, before it starts trials, waits for every trial whose owner is alive (then reads how it
ended). Pool workers die with their driver (``PR_SET_PDEATHSIG`` on Linux, and a watchdog thread
that notices a new parent pid); a dying worker records its trial as ``interrupted``. A worker
killed outright breaks the process pool: the trials that were running in it are marked
``interrupted`` (resumed by the next run, never counted as failed), the trials that had not
started keep ``pending`` and run in a new pool. On SLURM, ``squeue`` is asked again when it does
not answer, and a rerun refuses to resubmit trials with a recorded job while the queue state is
unknown; a trial whose job left the queue without a result records the job's last state
(``job_state``: CANCELLED, TIMEOUT, ...).

:func:`load_records` and :func:`report` merge any set of trial (or sweep) directories into the
tables of an experiment with the experiment's own table code.
"""
from __future__ import annotations

import contextlib
import hashlib
import importlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from empirical import io as eio
from empirical.config import PLACEMENT_KEYS, ExperimentConfig
from empirical.configure import config_from_dict, config_to_dict, replace
from empirical.training.experiment import check_experiment, prepare, resolve_device
from empirical.training.loop import train

__all__ = ["ExecutorSpec", "SweepError", "SweepResult", "TrialBusy", "trial_owner",
           "trial_id", "config_hash", "trial_dir_for", "write_trial",
           "run_trial", "run_sweep", "trial_state", "load_records", "register_task", "STATES"]

STATES = ("pending", "running", "done", "failed", "interrupted")
#: What a trial does: ``train`` one run (empirical.training.loop.train), or a task an experiment
#: registers with :func:`register_task` (rescue: one seed of its three-phase protocol). The executors
#: know no experiment: a trial records its task's module, and a worker imports it to find the task.
TASK_RUNNERS: dict[str, Callable[..., dict]] = {}


def register_task(name: str):
    """Decorator: ``fn(config, task_config, experiment, trial_dir, progress) -> dict`` runs one trial
    of task ``name`` and returns the fields its record adds (``run_dir`` and the task's results)."""
    def add(fn):
        TASK_RUNNERS[name] = fn
        return fn
    return add
#: Keys that say where a trial runs, not what it computes: left out of its id.


class SweepError(RuntimeError):
    """Some trials of a sweep failed or were interrupted (the message lists them, one a line)."""


class TrialBusy(RuntimeError):
    """The trial is owned by another live process (its ``.lock`` is held); nothing was changed."""


@dataclass
class ExecutorSpec:
    """How a sweep's trials run. ``local``: ``workers`` processes on this machine (1: in this
    process). ``slurm``: one submitit job array; the ``slurm_*`` settings become sbatch options."""
    kind: str = "local"                  # local | slurm
    workers: int = 1                     # local: parallel processes
    threads: int | None = None           # CPU threads per worker (None: this machine's cores / workers)
    partition: str | None = None         # slurm: --partition (None: the cluster's default)
    time_min: int = 60                   # slurm: --time, minutes per trial
    cpus_per_task: int = 1               # slurm: --cpus-per-task (also the worker's thread count)
    gpus_per_node: int = 0               # slurm: --gpus-per-node (0: none)
    gres: str | None = None              # slurm: --gres, e.g. gpu:a100:1 (instead of gpus_per_node)
    mem_gb: int | None = None            # slurm: --mem in GB (None: the cluster's default)
    array_parallelism: int = 64          # slurm: at most this many trials of the array at once
    folder: str | None = None            # slurm: submitit's logs and pickles (None: <sweep_dir>/slurm/%j)
    poll_seconds: float | None = None    # how often the driver looks at the trials (None: 0.5 local, 5 slurm)
    lock_wait_s: float = 600.0           # local: how long a rerun waits for a trial owned by a live process

    def __post_init__(self):
        if self.kind not in ("local", "slurm"):
            raise ValueError(f"--executor must be local or slurm, got {self.kind!r}")
        if self.workers < 1:
            raise ValueError(f"--workers must be >= 1, got {self.workers}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"--threads must be >= 1, got {self.threads}")
        for name in ("time_min", "cpus_per_task", "array_parallelism"):
            if getattr(self, name) < 1:
                flag = name.replace("_", "-").replace("-min", "")
                raise ValueError(f"--{flag} must be >= 1, got {getattr(self, name)}")
        if self.gpus_per_node < 0:
            raise ValueError(f"--gpus-per-node must be >= 0, got {self.gpus_per_node}")


@dataclass
class SweepResult:
    sweep_dir: Path
    records: list[dict]                  # result.json of every done trial, in trial order
    dirs: list[Path] = field(default_factory=list)         # every trial's directory, in trial order
    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)       # done before this call
    failed: dict[str, str] = field(default_factory=dict)   # id -> one-line error
    interrupted: list[str] = field(default_factory=list)   # ended without a result (cancelled, killed)
    job_ids: dict[str, str] = field(default_factory=dict)  # id -> SLURM job id (slurm executor)
    busy: dict[str, str] = field(default_factory=dict)     # id -> its live owner (not run here: lock_wait_s passed)
    wall_seconds: float = 0.0


# ---------------------------------------------------------------------------------------
# Ids and trial directories
# ---------------------------------------------------------------------------------------

#: Keys added to the tree after trial ids were first recorded: left out of a trial's identity while
#: at their default (what the older code did), so the ids of existing sweeps stay the same.
_LATER_KEYS = (("train", "optimizer"), ("train", "momentum"), ("train", "weight_decay"), ("train", "grad_clip"))


def _identity(config: ExperimentConfig, task: str = "train", task_config: dict | None = None) -> dict:
    d = eio.to_jsonable(config_to_dict(config))
    for part, name in _LATER_KEYS:
        if getattr(getattr(config, part), name) == getattr(getattr(ExperimentConfig(), part), name):
            d[part].pop(name)
    for section, key in PLACEMENT_KEYS:
        if key is None:
            d.pop(section, None)
        else:
            d[section].pop(key, None)
    if task != "train":   # a plain training trial's id is the config's alone
        d["task"] = {"name": task, "config": eio.to_jsonable(task_config or {})}
    return d


def config_hash(config: ExperimentConfig, task: str = "train", task_config: dict | None = None) -> str:
    """SHA-256 of the resolved config without its placement keys (hex); a task other than
    ``train`` (e.g. ``rescue``) and its settings are part of it."""
    return hashlib.sha256(json.dumps(_identity(config, task, task_config), sort_keys=True).encode()).hexdigest()


def trial_id(config: ExperimentConfig, task: str = "train", task_config: dict | None = None) -> str:
    """``<method>-kl<w>-seed<s>-<10 hex digits of config_hash>`` (``rescue-seed<s>-...`` for a
    rescue trial): readable and stable."""
    head = (f"{config.method_name}-kl{config.train.kl_weight:g}" if task == "train" else task)
    return f"{head}-seed{config.train.seed}-{config_hash(config, task, task_config)[:10]}"


def trial_dir_for(sweep_dir: str | Path, config: ExperimentConfig, task: str = "train",
                  task_config: dict | None = None) -> Path:
    """``config.out_dir`` when the grid names one (claims: ``<runs>/<method>-kl<w>-seed<s>``),
    else ``<sweep_dir>/<trial id>``."""
    if config.out_dir:
        return Path(config.out_dir).resolve()
    return (Path(sweep_dir) / trial_id(config, task, task_config)).resolve()


def _read_json(path: Path, default=None):
    """A trial's own JSON file (status, lock owner): ``default`` when it is missing or half-written;
    anything that is not a regular file (a pipe, a directory) is an error naming it."""
    try:
        return eio.read_json(path, "trial")
    except (FileNotFoundError, eio.UnreadableContentError):
        return default


def _write_status(trial_dir: Path, state: str, **extra) -> None:
    old = _read_json(trial_dir / "status.json", {}) or {}
    status = {"state": state, "time": time.time(), "attempts": old.get("attempts", 0), **extra}
    eio.atomic_write_json(trial_dir / "status.json", status)


def _stored_hash(tdir: Path) -> str | None:
    """The config hash of what ``tdir`` holds (None: nothing yet)."""
    meta = _read_json(tdir / "trial.json")
    if meta and meta.get("config_hash"):
        return str(meta["config_hash"])
    stored = _read_json(tdir / "config.json")   # a run directory written by train() alone
    if stored is None:
        return None
    try:
        return config_hash(config_from_dict(stored))
    except (ValueError, TypeError, KeyError):
        return "unreadable"


def write_trial(sweep_dir: str | Path, group: str, config: ExperimentConfig, task: str = "train",
                task_config: dict | None = None) -> Path:
    """Create (or check) the directory of one trial; returns it."""
    if task != "train" and task not in TASK_RUNNERS:
        raise ValueError(f"unknown sweep task {task!r}; valid: train, {', '.join(TASK_RUNNERS) or '(none registered)'}")
    tdir = trial_dir_for(sweep_dir, config, task, task_config)
    digest = config_hash(config, task, task_config)
    stored = _stored_hash(tdir)
    if stored is not None and stored != digest:
        # the directory holds another config's run (an older sweep, or a run from before the sweep
        # layer): its result does not count, and training decides, as it always has, whether the
        # checkpoint can be extended (e.g. more epochs) or names a different config (an error)
        (tdir / "result.json").unlink(missing_ok=True)
        if (tdir / "status.json").exists():
            _write_status(tdir, "pending")
    if stored != digest:
        eio.atomic_write_json(tdir / "config.json", config_to_dict(replace(config, out_dir=None)))
    eio.atomic_write_json(tdir / "trial.json", {"id": trial_id(config, task, task_config), "group": group,
                                                "config_hash": digest, "task": task, "task_config": task_config or {},
                                                "task_module": None if task == "train" else TASK_RUNNERS[task].__module__})
    if not (tdir / "status.json").exists():
        _write_status(tdir, "pending")
    return tdir


def _attempts(trial_dir: Path) -> int:
    return int((_read_json(trial_dir / "status.json", {}) or {}).get("attempts", 0))


def trial_state(trial_dir: Path) -> str:
    if (trial_dir / "result.json").exists():
        return "done"
    return (_read_json(trial_dir / "status.json", {}) or {}).get("state", "pending")


# ---------------------------------------------------------------------------------------
# The worker
# ---------------------------------------------------------------------------------------

def _job_id() -> str | None:
    if os.environ.get("SLURM_ARRAY_JOB_ID"):
        return f"{os.environ['SLURM_ARRAY_JOB_ID']}_{os.environ.get('SLURM_ARRAY_TASK_ID', '')}"
    return os.environ.get("SLURM_JOB_ID")


def _pin_threads(threads: int | None):
    """torch and BLAS/OpenMP pools limited to ``threads`` (None: leave them)."""
    import contextlib

    if not threads:
        return contextlib.nullcontext()
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(threads)
    return threadpool_limits(limits=threads)


_WORKER_EXPERIMENT: list = []   # a pool worker keeps its last prepared experiment (data, teacher) for the next trial


def _worker_experiment(config, prepare, check_experiment):

    for exp in _WORKER_EXPERIMENT:
        try:
            check_experiment(config, exp)
            if exp.device == resolve_device(config.train.device):
                return exp
        except ValueError:
            pass
    exp = prepare(config)
    _WORKER_EXPERIMENT[:] = [exp]
    return exp


_LOCK_NAME = ".lock"
_RUNNING: list[Path] = []        # the trial this process owns now (at most one)
_TERMINATING: list[bool] = []    # a pool worker got SIGTERM: exit once its trial recorded "interrupted"


@contextlib.contextmanager
def _own_trial(tdir: Path):
    """Hold the trial's lock (``fcntl.flock``, exclusive, non-blocking) for the ``with`` body.

    The lock file records the owner's pid and host for messages; the lock itself is the kernel's,
    released when the owner exits or is killed, so a dead owner never blocks a rerun. A held lock
    raises :class:`TrialBusy` naming the owner."""
    import fcntl

    fd = os.open(tdir / _LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise TrialBusy(f"trial {tdir} is being run by {_owner_text(tdir)}; wait for it to finish") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname()}).encode(), 0)
        _RUNNING[:] = [tdir]
        yield
    finally:
        _RUNNING[:] = []
        os.close(fd)    # releases the lock


def _owner_text(tdir: Path) -> str:
    owner = _read_json(tdir / _LOCK_NAME, {}) or {}
    return f"pid {owner.get('pid', '?')} on {owner.get('host', '?')}"


def trial_owner(trial_dir: str | Path) -> str | None:
    """``"pid P on HOST"`` when a live process holds the trial's lock, else None (never blocks)."""
    import fcntl

    tdir = Path(trial_dir)
    try:
        fd = os.open(tdir / _LOCK_NAME, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _owner_text(tdir)
        return None
    finally:
        os.close(fd)


def _die_with_parent(parent: int) -> None:
    """Pool-worker initializer: end this worker when the driver ``parent`` dies.

    Linux: ``prctl(PR_SET_PDEATHSIG, SIGTERM)``. Everywhere: a daemon thread that sends SIGTERM
    to this process once its parent pid changes (the driver died and the worker was re-parented).
    SIGTERM raises SystemExit in the main thread, so :func:`run_trial` records ``interrupted``;
    a worker that does not exit within 30 s of that is killed."""
    def on_term(signum, frame):
        if not _RUNNING:             # idle (waiting for work): nothing to record
            os._exit(128 + signum)
        if _TERMINATING:             # a second SIGTERM (PDEATHSIG and the watchdog both send one) must not
            return                   # interrupt the writing of "interrupted" that the first one started
        _TERMINATING.append(True)
        threading.Timer(30.0, os._exit, (128 + signum,)).start()   # a trial stuck in C code: end anyway
        raise SystemExit(128 + signum)   # run_trial records "interrupted", then the worker exits

    signal.signal(signal.SIGTERM, on_term)
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGTERM, 0, 0, 0)   # 1 = PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass

    def watch():
        while os.getppid() == parent:
            time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGTERM)

    if os.getppid() != parent:   # the driver died before this worker started
        os._exit(1)
    threading.Thread(target=watch, name="die-with-driver", daemon=True).start()


def run_trial(trial_dir: str | Path, threads: int | None = None, experiment=None, progress: bool = False) -> dict:
    """Train the trial in ``trial_dir`` (resuming from its checkpoint) and write ``result.json``.

    ``threads``: pin torch and BLAS to this many threads (a worker's share of the machine).
    ``experiment``: an already prepared Experiment to reuse when it matches (in-process runs).
    Exceptions are recorded in ``status.json`` (message and traceback) and re-raised. The trial is
    owned by this process while it runs (:func:`_own_trial`): :class:`TrialBusy` when another live
    process owns it."""
    tdir = Path(trial_dir).resolve()
    with _own_trial(tdir):
        return _run_owned_trial(tdir, threads, experiment, progress)


def _run_owned_trial(tdir: Path, threads: int | None, experiment, progress: bool) -> dict:

    if (tdir / "result.json").exists():   # finished by an owner that held the lock before us
        return _read_record(tdir)
    old = _read_json(tdir / "status.json", {}) or {}
    try:   # from "running" on, any exit records its state (a SIGTERM may arrive at any bytecode)
        _write_status(tdir, "running", host=socket.gethostname(), pid=os.getpid(), job_id=_job_id(),
                      started=time.time(), attempts=old.get("attempts", 0) + 1)
        with _pin_threads(threads):
            config = replace(config_from_dict(eio.read_json(tdir / "config.json", "trial config")), out_dir=str(tdir))
            meta = eio.read_json(tdir / "trial.json", "trial")
            if experiment is not None:
                try:
                    check_experiment(config, experiment)
                except ValueError:
                    experiment = None
            t0 = time.perf_counter()
            exp = experiment if experiment is not None else _worker_experiment(config, prepare, check_experiment)
            common = {"group": meta["group"], "method": config.method_name, "kl_weight": config.train.kl_weight,
                      "seed": config.train.seed, "dataset": config.data.name, "trial_id": meta["id"],
                      "trial_dir": str(tdir)}
            code = eio.code_commit()   # the code this trial trains with (named in the results README)
            common.update(commit=code["commit"], commit_dirty=code["dirty"])
            task = meta.get("task", "train")
            if task != "train":
                if task not in TASK_RUNNERS and meta.get("task_module"):   # a fresh worker: load the task's module
                    importlib.import_module(meta["task_module"])
                if task not in TASK_RUNNERS:
                    raise ValueError(f"trial {tdir} has task {task!r}, which no module registered; re-create the "
                                     "sweep with the current code (--fresh)")
                extra = TASK_RUNNERS[task](config, meta["task_config"], exp, tdir, progress)
                rec = {**common, "seconds": time.perf_counter() - t0, **extra}
            else:
                result = train(config, experiment=exp, resume=True, progress=progress)
                final = {k: v for k, v in result.final.items() if k != "bound_violations"}
                rec = {**common, "seconds": time.perf_counter() - t0, "run_dir": str(result.out_dir),
                       "n_violations": len(result.bound_violations), "bound_violations": result.bound_violations,
                       **final}
            eio.atomic_write_json(tdir / "result.json", rec)
    except Exception as exc:
        _write_status(tdir, "failed", error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc(),
                      host=socket.gethostname(), pid=os.getpid(), job_id=_job_id())
        raise
    except BaseException:   # KeyboardInterrupt, SystemExit: resumable, not failed
        _write_status(tdir, "interrupted", host=socket.gethostname(), pid=os.getpid(), job_id=_job_id())
        if _TERMINATING:     # a pool worker told to stop (its driver died, or the pool broke): stop now,
            os._exit(143)    # not after handing the exception to a pool that may no longer read it
        raise
    _write_status(tdir, "done", host=socket.gethostname(), pid=os.getpid(), job_id=_job_id(), finished=time.time())
    return _read_record(tdir)


def _unjson(v):
    return float(v) if isinstance(v, str) and v in ("nan", "inf", "-inf") else v


def _read_record(trial_dir: Path) -> dict:
    rec = eio.read_json(trial_dir / "result.json", "trial result")
    return {k: _unjson(v) for k, v in rec.items()}


# ---------------------------------------------------------------------------------------
# Executors: submit trial directories, say which are still queued or running
# ---------------------------------------------------------------------------------------

class _InProcess:
    """One worker: the trials run here, one after the other (a prepared experiment is reused)."""
    def __init__(self, experiments, progress):
        self.experiments, self.progress = list(experiments or []), progress

    def submit(self, dirs: list[Path], on_change: Callable[[], None]) -> dict:

        for d in dirs:
            config = config_from_dict(eio.read_json(d / "config.json", "trial config"))
            exp = None
            for e in self.experiments:
                try:
                    check_experiment(config, e)
                    exp = e
                    break
                except ValueError:
                    continue
            try:
                if exp is None:
                    exp = prepare(config)
                    self.experiments.append(exp)
                run_trial(d, experiment=exp, progress=self.progress)
            except TrialBusy:
                pass     # another live process runs it: its state is theirs to write
            except Exception as exc:
                if trial_state(d) != "failed":   # failed before run_trial could record it (prepare)
                    _write_status(d, "failed", error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc())
            on_change()
        return {}

    def alive(self) -> set[Path]:
        return set()


class _Pool:
    """``workers`` spawned processes; each pins torch and BLAS to its share of the cores and dies
    with the driver (:func:`_die_with_parent`).

    A worker that dies (killed, out of memory) breaks a ``ProcessPoolExecutor``: every future
    then raises ``BrokenProcessPool``, including those of trials that never started. The trials
    that were running are marked ``interrupted`` (not failed: the next run resumes them from their
    checkpoints; this run does not retry them, so a trial that kills its worker cannot loop); the
    trials that never started keep their state and go to a new pool."""
    def __init__(self, spec: ExecutorSpec, progress: bool):
        self.spec = spec
        self.threads = spec.threads or max(1, (os.cpu_count() or 1) // spec.workers)
        self.futures: dict[Path, Any] = {}
        self.progress = progress
        self.pool: Any = None
        self.restarts = 0

    def _new_pool(self):
        import concurrent.futures as cf
        import multiprocessing as mp

        return cf.ProcessPoolExecutor(max_workers=self.spec.workers, mp_context=mp.get_context("spawn"),
                                      initializer=_die_with_parent, initargs=(os.getpid(),))

    def submit(self, dirs: list[Path], on_change) -> dict:
        self.pool = self._new_pool()
        self.attempts = {d: _attempts(d) for d in dirs}     # a trial that starts in this pool raises it
        self.futures = {d: self.pool.submit(run_trial, str(d), self.threads, None, False) for d in dirs}
        return {}

    def alive(self) -> set[Path]:
        from concurrent.futures.process import BrokenProcessPool

        out, broken = set(), []
        for d, f in list(self.futures.items()):
            if not f.done():
                out.add(d)
                continue
            exc = f.exception()
            if exc is None or isinstance(exc, TrialBusy):
                del self.futures[d]
            elif isinstance(exc, BrokenProcessPool):
                broken.append(d)
            else:
                del self.futures[d]
                if trial_state(d) not in ("failed", "done"):   # failed before run_trial could record it
                    _write_status(d, "failed", error=f"{type(exc).__name__}: {exc}")
        if not broken:
            return out
        # the pool is broken: every unfinished future fails with BrokenProcessPool
        self.pool.shutdown(wait=True, cancel_futures=True)
        restart = []
        for d in self.futures:
            state = trial_state(d)
            if state in ("done", "failed"):
                continue
            if _attempts(d) > self.attempts[d]:   # it started: its worker died or was stopped with the pool
                if state != "interrupted":
                    _write_status(d, "interrupted", error="its worker process died (the process pool broke); "
                                  "the next run resumes it from its checkpoint")
            else:                      # never started: it runs in the new pool
                restart.append(d)
        self.restarts += 1
        if restart and self.restarts > len(self.futures) + 1:   # a pool that breaks before any trial starts
            for d in restart:
                _write_status(d, "interrupted", error="the process pool broke before it started")
            restart = []
        self.futures = {}
        if restart:
            self.submit(restart, lambda: None)
        return set(restart)

    def close(self):
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)


class _Slurm:
    """One submitit job array; a job that has left ``squeue`` has ended (its trial directory says how)."""
    def __init__(self, spec: ExecutorSpec, sweep_dir: Path):
        try:
            import submitit
        except ImportError:
            raise ValueError("--executor slurm needs submitit: pip install 'witness-theory[slurm]'") from None
        if shutil.which("sbatch") is None or shutil.which("squeue") is None:
            raise ValueError("--executor slurm: sbatch/squeue not found on PATH (is this a SLURM login node?)")
        folder = spec.folder or str(sweep_dir / "slurm" / "%j")
        self.executor = submitit.AutoExecutor(folder=folder, cluster="slurm")
        params: dict[str, Any] = {"timeout_min": spec.time_min, "cpus_per_task": spec.cpus_per_task,
                                  "slurm_array_parallelism": spec.array_parallelism, "name": "witness-sweep"}
        if spec.partition:
            params["slurm_partition"] = spec.partition
        if spec.gpus_per_node:
            params["gpus_per_node"] = spec.gpus_per_node
        if spec.gres:
            params["slurm_gres"] = spec.gres
        if spec.mem_gb:
            params["mem_gb"] = spec.mem_gb
        self.executor.update_parameters(**params)
        self.threads = spec.cpus_per_task
        self.jobs: dict[Path, str] = {}

    def submit(self, dirs: list[Path], on_change) -> dict:
        # a trial whose job (from an earlier driver) is still queued or running is waited for, not
        # resubmitted; when squeue does not answer, nothing with a recorded job is resubmitted
        recorded = {d: (_read_json(d / "status.json", {}) or {}).get("job_id") for d in dirs}
        recorded = {d: str(j) for d, j in recorded.items() if j}
        queued = self._queued_retrying() if recorded else {}
        if queued is None:
            raise SweepError(f"--executor slurm: squeue did not answer after {len(self.RETRY_S) + 1} tries, so whether "
                             f"the jobs of {len(recorded)} trial(s) (e.g. {recorded[next(iter(recorded))]}) are still "
                             "queued is unknown; nothing was resubmitted. Run the sweep again when squeue answers")
        adopted = {d: j for d, j in recorded.items() if j in queued}
        new = [d for d in dirs if d not in adopted]
        jobs = []
        if new:
            with self.executor.batch():
                jobs = [self.executor.submit(run_trial, str(d), self.threads) for d in new]
        self.jobs = {**adopted, **{d: str(j.job_id) for d, j in zip(new, jobs)}}
        for d in new:
            _write_status(d, "pending", job_id=self.jobs[d])
        return dict(self.jobs)

    #: Pauses before asking squeue again (a busy slurmctld may not answer at once).
    RETRY_S = (1.0, 2.0, 4.0)
    #: squeue states of a job that is still queued or running (anything else has ended).
    LIVE_STATES = frozenset({"PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "SUSPENDED", "REQUEUED",
                             "REQUEUE_HOLD", "REQUEUE_FED", "RESIZING", "SIGNALING", "STAGE_OUT", "STOPPED",
                             "RESV_DEL_HOLD", "SPECIAL_EXIT", "POWER_UP_NODE"})

    def _queued_retrying(self) -> dict[str, str] | None:
        for pause in (*self.RETRY_S, None):
            queued = self._queued()
            if queued is not None or pause is None:
                return queued
            time.sleep(pause)
        return None

    @classmethod
    def _queued(cls) -> dict[str, str] | None:
        """{job id: state} of the jobs (array tasks one by one) squeue still shows as queued or
        running; ended jobs squeue still remembers are recorded in ``cls.ended``. None when squeue
        does not answer."""
        try:
            out = subprocess.run(["squeue", "-h", "-r", "-t", "all", "-o", "%i %T"], capture_output=True, text=True,
                                 timeout=60)
        except (subprocess.TimeoutExpired, OSError):
            return None
        if out.returncode != 0:
            return None
        live: dict[str, str] = {}
        for line in out.stdout.splitlines():
            job, _, state = line.strip().partition(" ")
            if not job:
                continue
            if state.strip() in cls.LIVE_STATES:
                live[job] = state.strip()
            else:
                cls.ended[job] = state.strip()
        return live

    ended: dict[str, str] = {}

    @staticmethod
    def job_state(job: str) -> str | None:
        """The final state of an ended job: squeue's memory of it, else sacct (when accounting runs)."""
        if job in _Slurm.ended:
            return _Slurm.ended[job]
        try:
            out = subprocess.run(["sacct", "-n", "-X", "-P", "-j", job, "-o", "State"], capture_output=True,
                                 text=True, timeout=30)
        except (subprocess.TimeoutExpired, OSError):
            return None
        states = [line.split()[0] for line in out.stdout.splitlines() if line.strip()] if out.returncode == 0 else []
        return states[0] if states else None

    def alive(self) -> set[Path]:
        if not self.jobs:
            return set()
        queued = self._queued()
        if queued is None:       # slurmctld busy: ask again at the next poll
            return set(self.jobs)
        self.jobs = {d: j for d, j in self.jobs.items() if j in queued}
        return set(self.jobs)

    def close(self):
        pass


# ---------------------------------------------------------------------------------------
# The driver
# ---------------------------------------------------------------------------------------

def _failure_line(trial_dir: Path) -> str:
    status = _read_json(trial_dir / "status.json", {}) or {}
    return str(status.get("error") or "failed (no message recorded)").splitlines()[0][:500]


def _reset(trial_dir: Path) -> None:
    """``fresh``: forget the trial's run (checkpoint, metrics, result), keep its config."""
    for p in trial_dir.iterdir():
        if p.name in ("config.json", "trial.json"):
            continue
        if p.is_dir():
            shutil.rmtree(p)
        else:
            p.unlink()
    eio.atomic_write_json(trial_dir / "status.json", {"state": "pending", "time": time.time(), "attempts": 0})


def _wait_for_owners(todo: list[Path], spec: ExecutorSpec, result: SweepResult, label, log,
                     retry_failed: bool) -> list[Path]:
    """The trials of ``todo`` to start here: a trial owned by a live process (an earlier driver's
    worker that is still ending, another driver) is waited for, up to ``spec.lock_wait_s``, and
    then counted by how it ended; one still owned after that goes to ``result.busy``. A trial
    left ``running`` by an owner that died is marked ``interrupted``."""
    deadline = time.monotonic() + spec.lock_wait_s
    waiting = {d: trial_owner(d) for d in todo}
    waiting = {d: o for d, o in waiting.items() if o}
    if waiting:
        log(f"  waiting (up to {spec.lock_wait_s:g}s) for {len(waiting)} trial(s) run by live processes: "
            + ", ".join(f"{label(d)} ({o})" for d, o in list(waiting.items())[:5]))
    while waiting and time.monotonic() < deadline:
        time.sleep(0.2)
        waiting = {d: o for d, o in waiting.items() if trial_owner(d)}
    out = []
    for d in todo:
        state = trial_state(d)
        if d in waiting:
            result.busy[label(d)] = waiting[d] or "a live process"
        elif state == "done":
            result.skipped.append(label(d))
        elif state == "failed" and not retry_failed:
            result.failed[label(d)] = _failure_line(d)
        else:
            if state == "running":    # its owner died without a word (killed): resumable
                _write_status(d, "interrupted", error="its process died while running it")
            out.append(d)
    return out


def run_sweep(trials: Sequence, sweep_dir: str | Path, *, executor: ExecutorSpec | None = None,
              retry_failed: bool = False, fresh: bool = False, experiments: Sequence | None = None,
              progress: bool = False, log: Callable[[str], None] = print) -> SweepResult:
    """Run every trial (objects with ``.group`` and ``.config``) not already done; returns the
    records of all done trials in trial order and what failed or was interrupted."""
    spec = executor or ExecutorSpec()
    t0 = time.perf_counter()
    sweep = Path(sweep_dir).resolve()
    dirs: list[Path] = []

    def label(d: Path) -> str:   # the trial's name in messages: its path under the sweep directory
        try:
            return str(d.relative_to(sweep))
        except ValueError:
            return str(d)

    for t in trials:
        d = write_trial(sweep, t.group, t.config, getattr(t, "task", "train"), getattr(t, "task_config", None))
        if d in dirs:
            raise ValueError(f"two trials of the sweep have the same config ({label(d)}); give them different seeds")
        dirs.append(d)
    result = SweepResult(sweep_dir=sweep, records=[], dirs=list(dirs))
    todo = []
    for d in dirs:
        if fresh:
            _reset(d)
        state = trial_state(d)
        if state == "done":
            result.skipped.append(label(d))
        elif state == "failed" and not retry_failed:
            result.failed[label(d)] = _failure_line(d)
            log(f"  {label(d)}: failed earlier ({result.failed[label(d)]}); --retry-failed runs it again")
        else:
            todo.append(d)
    if todo and spec.kind == "local":
        todo = _wait_for_owners(todo, spec, result, label, log, retry_failed)
    log(f"sweep {sweep}: {len(dirs)} trials, {len(result.skipped)} done before, {len(todo)} to run "
        f"({spec.kind}{f', {spec.workers} workers' if spec.kind == 'local' else ''})")

    last = [""]

    def show(alive=frozenset()):
        counts = {s: 0 for s in ("done", "running", "failed", "pending")}
        for d in todo:
            state = trial_state(d)
            counts["pending" if state == "interrupted" else state] += 1
        line = (f"  progress: {counts['done']}/{len(todo)} done, {counts['running']} running, "
                f"{counts['failed']} failed, {counts['pending']} pending")
        if line != last[0]:
            last[0] = line
            log(line)

    if todo:
        if spec.kind == "slurm":
            runner: Any = _Slurm(spec, sweep)
        elif spec.workers == 1:
            runner = _InProcess(experiments, progress)
        else:
            runner = _Pool(spec, progress)
        try:
            jobs = runner.submit(todo, show)
            result.job_ids = {label(d): j for d, j in jobs.items()}
            if jobs:
                log(f"  SLURM jobs: {', '.join(sorted(set(j.split('_')[0] for j in jobs.values())))} "
                    f"({len(jobs)} trials; folder {spec.folder or sweep / 'slurm'})")
            poll = spec.poll_seconds or (5.0 if spec.kind == "slurm" else 0.5)
            while True:
                alive = runner.alive()
                show(alive)
                if not alive:
                    break
                time.sleep(poll)
        finally:
            if hasattr(runner, "close"):
                runner.close()
        for d in todo:
            state = trial_state(d)
            if state == "done":
                result.done.append(label(d))
            elif state == "failed":
                result.failed[label(d)] = _failure_line(d)
            elif label(d) in result.busy:
                continue
            else:   # left the queue (or the pool) without a result: cancelled, timed out, killed
                job = result.job_ids.get(label(d))
                extra = {"job_state": _Slurm.job_state(job)} if job and spec.kind == "slurm" else {}
                status = _read_json(d / "status.json", {}) or {}
                _write_status(d, "interrupted", job_id=job, **extra,
                              **{k: status[k] for k in ("error",) if k in status})
                result.interrupted.append(label(d))
    for d in dirs:
        if trial_state(d) == "done":
            result.records.append(_read_record(d))
    for name, err in result.failed.items():
        log(f"  FAILED {name}: {err}")
    for name in result.interrupted:
        job_state = (_read_json(sweep / name / "status.json", {}) or {}).get("job_state")
        log(f"  INTERRUPTED {name}{f' (SLURM job state {job_state})' if job_state else ''}: no result; "
            "re-run the sweep to resume it from its checkpoint")
    for name, owner in result.busy.items():
        log(f"  BUSY {name}: still run by {owner}; not started here (re-run the sweep when it has finished)")
    result.wall_seconds = time.perf_counter() - t0
    log(f"sweep done: {len(result.records)}/{len(dirs)} trials with results, {len(result.failed)} failed, "
        f"{len(result.interrupted)} interrupted ({result.wall_seconds:.1f}s)")
    return result


# ---------------------------------------------------------------------------------------
# Report: any set of trial or sweep directories -> the experiment's tables
# ---------------------------------------------------------------------------------------

def _trial_dirs(paths: Sequence[str | Path]) -> list[Path]:
    out: list[Path] = []
    for p in map(Path, paths):
        if (p / "trial.json").exists():
            out.append(p)
        elif p.is_dir():
            out += sorted(q.parent for q in p.rglob("trial.json"))
        else:
            raise FileNotFoundError(f"sweep-report: {p} is neither a trial nor a sweep directory")
    return list(dict.fromkeys(q.resolve() for q in out))


def load_records(paths: Sequence[str | Path]) -> tuple[list[dict], dict[str, str]]:
    """(records of every done trial under ``paths``, {trial id: state} of the others)."""
    records, missing = [], {}
    for d in _trial_dirs(paths):
        if trial_state(d) == "done":
            records.append(_read_record(d))
        else:
            missing[str(d)] = trial_state(d)
    return records, missing
