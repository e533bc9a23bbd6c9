#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the whole test suite: the theorem proofs under the
# deterministic `ci` Hypothesis profile, then the software's own tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HYPOTHESIS_PROFILE=${HYPOTHESIS_PROFILE:-ci}
exec .venv/bin/python -m pytest proofs tests -q "$@"
