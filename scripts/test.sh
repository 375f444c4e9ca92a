#!/usr/bin/env bash
# The test suite, as CI runs it. Extra arguments go to pytest (e.g. -m "not slow").
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || { echo "test: no .venv here; run scripts/setup.sh first" >&2; exit 2; }
export DEVBENCH_CACHE_DIR="${DEVBENCH_CACHE_DIR:-$PWD/.devbench/cache}"
exec .venv/bin/python -m pytest -q -ra "$@"
