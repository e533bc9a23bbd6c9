#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the main job: the certificate claims C1-C3 on the
# embedded digits data (5 seeds, all methods, KL stress), printing the table and where
# the results are.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m empirical claims --dataset digits --seeds 5 --workers auto "$@"
