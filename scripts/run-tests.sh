#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the whole test suite: the theorem proofs under the
# deterministic `ci` Hypothesis profile, then the software's own tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HYPOTHESIS_PROFILE=${HYPOTHESIS_PROFILE:-ci}
# Both cores (pytest-xdist; each worker runs whole test modules' fixtures of its own): the suite
# takes ~7 min instead of ~12 on the 2-core machine. WITNESS_TEST_WORKERS=0 runs in one process.
exec .venv/bin/python -m pytest proofs tests -q -n "${WITNESS_TEST_WORKERS:-2}" "$@"
