#!/usr/bin/env bash
# Re-record the Fashion-MNIST results at full scale with the current code (issue 23): the whole
# 60,000-row training split and the 10,000-row test split (the lidvae-fmnist preset keeps its
# published 20,000-row subsample), 5 seeds, every trained step through the sweep layer, so a killed
# or interrupted step resumes from RUNS when the script is run again (finished trials are skipped).
#
#   bash scripts/refresh-fashion-mnist.sh [STEP ...]      (default: every step, in this order)
#
# STEP: claims frontier compare-c7 compare compare-c5 rescue escape compare-c5-lidvae
# RUNS (environment, default runs/fashion-mnist-full): checkpoints and trial records, not in git.
# Each results README names the commit and machine (empirical.io.recorded_line); the step's wall
# time is appended to RUNS/refresh.log. Needs the Debian package dataset-fashion-mnist (or
# --root); scripts/setup.sh installs it.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-runs/fashion-mnist-full}
PY=.venv/bin/python
mkdir -p "$RUNS"
ALL=(claims frontier compare-c7 compare compare-c5 rescue escape compare-c5-lidvae)
STEPS=("${@:-${ALL[@]}}")
for step in "${STEPS[@]}"; do
  case "$step" in
    claims) cmd=(claims --dataset fashion-mnist --seeds 5 --workers auto) ;;
    frontier) cmd=(frontier --dataset fashion-mnist) ;;   # from the claims models in results/fashion-mnist
    compare-c7) cmd=(compare --dataset fashion-mnist --seeds 5 --workers auto --set compare.grid=c7) ;;
    compare) cmd=(compare --dataset fashion-mnist --seeds 5 --workers auto) ;;
    compare-c5) cmd=(compare --dataset fashion-mnist --seeds 5 --workers auto --set compare.grid=c5) ;;
    rescue) cmd=(rescue --dataset fashion-mnist --seeds 5 --workers auto) ;;
    escape) cmd=(escape --dataset fashion-mnist --seeds 5) ;;
    compare-c5-lidvae) cmd=(compare --preset lidvae-fmnist --seeds 5 --workers auto --set compare.grid=c5
                            --out results/fashion-mnist/compare-c5-lidvae) ;;
    *) echo "refresh-fashion-mnist.sh: unknown step '$step' (one of: ${ALL[*]})" >&2; exit 2 ;;
  esac
  [ "$step" = frontier ] || cmd+=(--runs "$RUNS/$step")
  start=$(date +%s)
  "$PY" -m empirical "${cmd[@]}"
  echo "$(date -u +%FT%TZ) $step: $(( $(date +%s) - start )) s wall: python -m empirical ${cmd[*]}" >> "$RUNS/refresh.log"
done
