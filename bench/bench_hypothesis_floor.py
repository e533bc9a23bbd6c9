"""What Hypothesis itself costs per example of a proof, before the proof's body runs: the floor
of a thorough run (issue 20).

    .venv/bin/python bench/bench_hypothesis_floor.py [--examples N]

Runs properties with empty bodies under the ``thorough`` profile's settings (no database, no
deadline; ``--examples`` examples each, 10,000 by default as in ``thorough``), with a fixed seed:

- ``scalars``: four scalar draws (a seed, two small integers, a float), the shape of the T11
  properties' arguments;
- ``specs``: the proofs' ``instance_specs`` strategy (Hypothesis's draws only);
- ``instances``: ``instances()``, the specs and ``build_instance`` (the teacher, weights and
  witness every instance property receives);
- ``instances + target``: the same with two ``report()`` calls per example (``target()`` and the
  statistics), as the ledger helpers make.

Prints milliseconds per example and seconds per property of that many examples, in one run: a
property of the thorough profile costs at least this much whatever its body does.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hypothesis import given, seed, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from proofs import conftest  # noqa: E402,F401  (registers the profiles; bounds the target phase as in a run)
from proofs.strategies import instance_specs, instances, report, seeds  # noqa: E402


def _properties():
    def scalars(s, K, N, x):
        pass

    def specs(spec):
        pass

    def built(inst):
        pass

    def targeted(inst):
        report("floor a", 0.1, 1.0)
        report("floor b", 0.2, 1.0)

    return {
        "scalars": given(s=seeds, K=st.integers(2, 6), N=st.integers(1, 4), x=st.floats(-9.0, -2.0))(scalars),
        "specs": given(spec=instance_specs(full_support=False))(specs),
        "instances": given(inst=instances(full_support=False))(built),
        "instances + target": given(inst=instances(full_support=False))(targeted),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--examples", type=int, default=10_000, help="examples per property (thorough: 10,000)")
    args = ap.parse_args(argv)
    if args.examples < 1:
        ap.error(f"--examples must be >= 1, got {args.examples}")
    # the thorough profile itself (proofs/conftest.py), --examples examples, a fixed seed so runs compare
    thorough = settings(settings.get_profile("thorough"), max_examples=args.examples, print_blob=False)
    print(f"{args.examples} examples per property, thorough's settings, seed 0")
    for name, prop in _properties().items():
        test = seed(0)(thorough(prop))
        t0 = time.perf_counter()
        test()
        sec = time.perf_counter() - t0
        print(f"  {name:20s} {1e3 * sec / args.examples:6.3f} ms per example  {sec:7.1f} s per property")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
