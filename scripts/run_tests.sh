#!/usr/bin/env bash
# The whole test suite: mypy over the three packages, bench/ and scripts/, colcon build +
# colcon test (package tests) + the system tests in test/.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
export PATH="$PWD/$VENV/bin:$PATH"
start=$(date +%s)

status=0
echo "[test] mypy (type check of the three packages, bench/ and scripts/)"
mypy || status=1  # the files and settings are in pyproject.toml

echo "[test] colcon build"
colcon build --symlink-install --event-handlers console_cohesion- 2>&1 | tail -n 3

echo "[test] colcon test (package unit tests)"
colcon test --return-code-on-test-failure --event-handlers console_direct- \
  --pytest-args -q -p no:cacheprovider || status=$?
colcon test-result --verbose || status=1

echo "[test] system tests (test/)"
python -m pytest test -q -p no:cacheprovider || status=1

echo "[test] finished in $(( $(date +%s) - start )) s, status $status"
exit $status
