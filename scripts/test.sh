#!/usr/bin/env bash
# The test suite: lint, layer contract, firmware tests, then pytest. Installs what it needs.
source "$(dirname "$0")/_venv.sh"
ruff check energybench tests bench
lint-imports
if [ -f firmware/Makefile ]; then make -s -C firmware test; fi
set +e
python -m pytest "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then echo "pytest collected no tests: failing" >&2; exit 1; fi
exit "$rc"
