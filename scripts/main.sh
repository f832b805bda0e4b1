#!/usr/bin/env bash
# The main job: set up .venv if needed, then compare the exercise's learning rates
# (AdamW on friedman3), write the figure and print the summary table.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/bootstrap.sh
export MPLBACKEND=Agg
mkdir -p out
exec .venv/bin/optiscope compare --lr 1,0.1,0.01,0.001 --out out/compare-lr.png "$@"
