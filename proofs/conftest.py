"""Hypothesis profiles for the proofs, and per-test example statistics for bench/bench_proofs.py.

Profiles (select with ``HYPOTHESIS_PROFILE``; default ``ci`` when ``CI`` is set, else ``dev``):

- ``ci``: deterministic (``derandomize=True``), 200 examples per property, no deadline,
  ``print_blob=True`` so a failure prints the blob that reproduces it.
- ``dev``: 50 examples per property, for a quick local run.
- ``thorough``: 10000 examples per property (run it with ``-n 2`` when pytest-xdist is there), no
  example database (below), ``print_blob=True``.
- ``sample``: 1000 examples per property, a tenth of ``thorough``: which properties dominate a
  thorough run, in a tenth of its time (bench/bench_proofs.py prints the seconds per test).
- ``mutation``: ``ci`` without shrinking, for mutmut and ``proofs/mutants.py`` (docs/mutation.md);
  ``mutation-quick``: the same at 50 examples, a first pass over mutants (docs/mutation.md).

Individual tests never set ``max_examples``: the profile decides how hard every property
is pushed. Deadlines are off everywhere because a scipy minimisation or a torch autograd
call can take tens of milliseconds on a shared 2-core machine; timings belong in bench/.

Statistics: when ``WITNESS_PROOFS_STATS`` names a JSON file, every session writes the number
of examples each test executed, the seconds each test took and the largest targeted
residual/tolerance ratio per label (see ``proofs/strategies.py``). Under pytest-xdist each
worker writes ``<file>.<worker>`` and the controller merges them into ``<file>``.
"""
from __future__ import annotations

import glob
import json
import os

import pytest
from hypothesis import HealthCheck, Phase, settings
from threadpoolctl import threadpool_limits

from empirical.io import atomic_write_json

from . import strategies

_COMMON = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("ci", derandomize=True, max_examples=200, print_blob=True, **_COMMON)
settings.register_profile("dev", max_examples=50, **_COMMON)
# thorough and sample run without Hypothesis's example database. With a database Hypothesis keeps a
# Pareto front of the target() scores (proofs/strategies.py) and spends examples of the property's
# budget on shrinking the front's members: the hardest instances, which for the iterative properties
# (descents, L-BFGS, root searches) are also the slowest. In one `sample` run of
# test_stiefel_descent_is_monotone_and_stationary that took 23.5 s of its 40.7 s (cProfile,
# 2026-12-07); the front only serves a later run's replay, and its shrinking raises no score. Without
# it the same max_examples go to generation and to the target phase's hill climbing (the search for
# the worst residual), so no property loses examples or targeting. A failure prints the blob that
# reproduces it (print_blob), and a failing draw is frozen as an @example, as before.
settings.register_profile("thorough", max_examples=10_000, database=None, print_blob=True, **_COMMON)
settings.register_profile("sample", max_examples=1_000, database=None, print_blob=True, **_COMMON)
# mutation testing (docs/mutation.md): the ci profile's examples, but a failure is not shrunk.
# A mutant is killed at its first failing example; shrinking it to a minimal one took 40-50 s per
# killed mutant of a widely called function (view_gap) and ran into mutmut's timeout. Which
# examples are drawn does not change (derandomize; shrinking runs only after a failure).
settings.register_profile("mutation", derandomize=True, max_examples=200, print_blob=False,
                          phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target], **_COMMON)
# a first pass over the mutants of functions that every proof reaches (core's kernel, clr, the
# Witness and Teacher constructors): a surviving mutant runs the whole selection, ~60 s per core
# under `mutation`. 50 examples (plus every @example) per property, the fewest any profile here
# draws (dev's count): a kill here is a kill; the survivors of this pass are re-run under
# `mutation` (docs/mutation.md). The passes of 2026-12-06/07 ran it at 25 (results/proofs/mutation.md)
settings.register_profile("mutation-quick", derandomize=True, max_examples=50, print_blob=False,
                          phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target], **_COMMON)


# The target phase's rounds, bounded. ConjectureRunner.optimise_targets (Hypothesis 6.170) repeats
# rounds of hill climbing over every target() label, doubling each round's max_improvements, until a
# round makes no new call or the pass reaches its ceiling of valid examples. Calls that are not valid
# examples (their status is below valid: invalid or overrun) keep the first going while the second is never
# reached, so the pass can spin. Seen 2026-12-07 with Hypothesis 6.170.29: the thorough run at 9ef02c6
# was stopped after 86 min, one worker in test_t2h_ledger_is_its_documented_relations for >= 16 min with
# 98% of its samples in the optimiser's DataTree simulation (py-spy) and none in the package, and the
# round's max_improvements a bigint (> 60 rounds). Alone under thorough with --hypothesis-seed=1 the same
# property spun past 150 s with max_improvements a bigint and its valid examples under the pass's ceiling
# of 2,107, where --hypothesis-seed=0 passed in 64 s. So an Optimiser of a round past the 11th
# (max_improvements > 10 * 2**10) returns at once: that round makes no call and the pass ends by the
# loop's own stop. Every property still runs max_examples valid examples (generation fills the budget);
# a pass that climbs and stops normally ends well before the 11th round, and is not changed.
_MAX_IMPROVEMENTS = 10 * 2 ** 10


def _bound_target_rounds() -> None:
    try:
        from hypothesis.internal.conjecture.optimiser import Optimiser
    except ImportError:          # another Hypothesis layout: leave it as it is
        return
    run = Optimiser.run
    if getattr(run, "_rounds_bounded", False):
        return

    def bounded_run(self) -> None:
        if getattr(self, "max_improvements", 0) > _MAX_IMPROVEMENTS:
            return
        run(self)

    bounded_run._rounds_bounded = True   # type: ignore[attr-defined]
    Optimiser.run = bounded_run          # type: ignore[method-assign]


_bound_target_rounds()


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


PROFILE = os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if _in_ci() else "dev")
settings.load_profile(PROFILE)

# One BLAS thread for the whole session: the proofs multiply small matrices, where a BLAS
# thread pool only adds synchronisation, and on a shared 2-core machine under load it made
# the T12 optimisation ~30x slower (20 ms per 3x3 ELBO evaluation instead of 0.5 ms).
_BLAS_LIMIT = threadpool_limits(1)


@pytest.fixture(autouse=True)
def _fresh_caches():
    """Empty witness_theory's caches (functools.cache on information.max_varentropy, and the last
    permutation draw that information._permutation_chunks keeps) before every test. mutmut runs
    each mutant's tests in a process forked from one that already ran the proofs, and it maps a
    test to the functions the test calls in its statistics run. With the caches filled, a mutant
    behind a cache kept the unmutated values, and a test that found max_varentropy(K) cached was
    never mapped to the function behind it. All 12 of _varentropy's mutants were reported as
    surviving on 2026-12-07; 3 applied by hand fail the max_varentropy proofs (results/proofs/
    mutation.md). Emptying once per session left 3 of them surviving, so it is done per test (a few
    ms: 2 (K - 1) bounded scalar searches per K a test uses)."""
    from witness_theory import information
    information.max_varentropy.cache_clear()
    information._PERMUTATIONS.clear()
    yield


@pytest.fixture(autouse=True, scope="module")
def _heldout_blas_context():
    """Each held-out fit enters ``heldout.one_blas_thread()``, which lists the loaded libraries
    (/proc/self/maps) unless it is inside another such context: ~1 ms per fit (cProfile), against
    a few ms for the cheap fits of the fitted-witness properties. BLAS is at one thread for the whole
    session already (above), so every module runs inside one such context: nested fits list
    nothing, with the same thread count and the same results."""
    from witness_theory.heldout import one_blas_thread
    with one_blas_thread():
        yield


@pytest.fixture(autouse=True)
def _track_current_test(request):
    """Tell the statistics helpers which test is running (examples are counted per test)."""
    strategies.CURRENT_TEST[0] = request.node.nodeid
    yield
    strategies.CURRENT_TEST[0] = "<outside a test>"


_ORDER_KEY = pytest.StashKey[dict]()


def pytest_configure(config):
    """Read ``WITNESS_PROOFS_ORDER`` (below) before anything is collected: a file that is not a
    bench_proofs JSON stops the session with one line naming it."""
    path = os.environ.get("WITNESS_PROOFS_ORDER")
    if not path:
        return
    try:
        with open(path) as fh:
            seconds = json.load(fh)["seconds_per_test"]
        config.stash[_ORDER_KEY] = {str(k): float(v) for k, v in seconds.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise pytest.UsageError(f"WITNESS_PROOFS_ORDER={path!r}: not a bench_proofs JSON with "
                                f"seconds_per_test ({exc!r}); pass one written by bench/bench_proofs.py --out") from None


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """Longest first, when ``WITNESS_PROOFS_ORDER`` names a JSON file of bench/bench_proofs.py
    (its ``seconds_per_test``, from an earlier run): the tests sorted by their recorded seconds,
    largest first, the unrecorded ones after them in collection order (a stable sort). Under
    pytest-xdist's load scheduling the two workers then finish together, where in file order the
    last long properties can run on one worker while the other idles (longest processing time
    first, Graham 1969: at most 4/3 of the best schedule). What runs, and each test's examples, do
    not change; every worker reads the same file, so they collect the same order. With xdist's
    ``--maxschedchunk 1`` (what bench_proofs passes): larger chunks gave one worker a run of long
    tests while the other idled."""
    seconds = config.stash.get(_ORDER_KEY, None)
    if seconds is None:
        return
    items.sort(key=lambda item: -seconds.get(item.nodeid, 0.0))


_SECONDS: dict[str, float] = {}   # seconds per test: setup + call + teardown


def pytest_runtest_logreport(report):
    """Seconds per test, beside its example count: which property costs what under a profile
    (bench/bench_proofs.py prints the costliest). Under pytest-xdist the controller receives every
    worker's reports, so its own record is complete (the workers' are not merged)."""
    _SECONDS[report.nodeid] = _SECONDS.get(report.nodeid, 0.0) + report.duration


def _stats_path() -> str | None:
    return os.environ.get("WITNESS_PROOFS_STATS") or None


def pytest_sessionfinish(session, exitstatus):
    path = _stats_path()
    if path is None:
        return
    tests = {k: {"calls": v["calls"]} for k, v in strategies.STATS["tests"].items()}
    payload = {"profile": PROFILE, "tests": tests, "targets": strategies.STATS["targets"],
               "seconds": {k: round(v, 3) for k, v in _SECONDS.items()}}
    worker = getattr(session.config, "workerinput", None)
    if worker is not None:   # an xdist worker: the controller merges
        atomic_write_json(f"{path}.{worker['workerid']}", payload)
        return
    for part in sorted(glob.glob(f"{glob.escape(path)}.gw*")):
        with open(part) as fh:
            other = json.load(fh)
        payload["tests"].update(other["tests"])
        for label, rec in other["targets"].items():
            if label not in payload["targets"] or rec["ratio"] > payload["targets"][label]["ratio"]:
                payload["targets"][label] = rec
        os.remove(part)
    atomic_write_json(path, payload)
