#!/usr/bin/env bash
# Create .venv (if missing or stale) and install optiscope with its dev tools.
# torch is pinned through constraints.txt to the local CPU wheel (torch==2.13.0);
# an unpinned torch would pull a CUDA build of several GB.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
python="${PYTHON:-python3.11}"
command -v "$python" >/dev/null 2>&1 || python=python3
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "optiscope needs Python 3.11 or newer; $python is not. Set PYTHON=/path/to/python3.11." >&2
    exit 1
fi
stamp=".venv/.optiscope-installed"
want="$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "optiscope: setting up .venv (first run only) ..." >&2
    [ -x .venv/bin/python ] || "$python" -m venv .venv
    .venv/bin/python -m pip install --quiet --upgrade pip >&2
    .venv/bin/python -m pip install --quiet -c constraints.txt -e ".[dev,web,ray]" >&2
    echo "$want" > "$stamp"
fi
# The C++ library that replays training steps (src/optiscope/engine/_replay.py), compiled
# against this torch into ~/.cache/optiscope once (about 10 s; a check of a second after).
# Without a C++ compiler it says so, and training runs its Python calls.
.venv/bin/python -c "from optiscope.engine import _replay; _replay.main(quiet=True)" >&2
