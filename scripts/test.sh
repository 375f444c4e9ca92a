#!/usr/bin/env bash
# The test suite, as CI runs it. Extra arguments go to pytest (e.g. -m "not slow").
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || { echo "test: no .venv here; run scripts/setup.sh first" >&2; exit 2; }
# No cache or database is set here: tests/conftest.py gives every test its own temporary ones (and HOME),
# and keeps the emulated board's root filesystem in this repository's .devbench/.
exec .venv/bin/python -m pytest -q -ra "$@"
