#!/usr/bin/env bash
# The test command: set up .venv if needed, then lint, type-check and run the tests.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/bootstrap.sh
export MPLBACKEND=Agg
# Every tracked folder with Python in it (benchmarks/ may not exist yet in a fresh clone).
paths=$(for d in src tests benchmarks docs; do [ -d "$d" ] && echo "$d"; done)
echo "== ruff check" && .venv/bin/ruff check $paths
echo "== ruff format --check" && .venv/bin/ruff format --check $paths
echo "== mypy" && .venv/bin/mypy
echo "== pytest"
set +e
.venv/bin/python -m pytest "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
    echo "pytest collected no tests: failing on purpose" >&2
    exit 1
fi
exit "$rc"
