#!/usr/bin/env bash
# Create .venv and install the package with everything the tests and experiments need.
# Idempotent: a second call only checks. Pins torch==2.13.0 (the local CPU build on these
# machines; an unpinned torch would pull a multi-GB CUDA build). The package itself only
# asks for a torch range (pyproject.toml).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
if ! .venv/bin/python -c "import witness_theory, empirical, torch, sklearn, sympy, hypothesis, pytest, xdist, matplotlib, tqdm, mpmath, ruff, mypy, lightning, submitit, threadpoolctl" 2>/dev/null; then
    .venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
    .venv/bin/python -m pip install -q "torch==2.13.0"
    .venv/bin/python -m pip install -q -e ".[dev,lightning]" "torch==2.13.0"   # the pin keeps Lightning off a CUDA torch
fi
# Real Fashion-MNIST (Debian package) for the data tests; optional outside CI.
if [ ! -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist) >/dev/null 2>&1 \
        || echo "note: could not install dataset-fashion-mnist; Fashion-MNIST tests will be skipped outside CI" >&2
fi
# SLURM and munge (Debian packages) for the sweep tests, which start a one-node cluster of their
# own (tests/slurm_cluster.py); no daemon is started here. Optional outside CI.
if [ ! -x /usr/sbin/slurmctld ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurmctld slurmd slurm-client munge) \
        >/dev/null 2>&1 || echo "note: could not install SLURM; the SLURM sweep tests will be skipped outside CI" >&2
fi
