#!/usr/bin/env bash
# Create or refresh the project venv (.venv, git-ignored) with everything the stack needs.
#
# Two kinds of machine:
# - ROS 2 sourced (ROS_DISTRO set and rclpy importable): the venv sees the system packages and
#   rclpy/messages come from /opt/ros; the PyPI ros-* wheels are NEVER installed (they would
#   shadow the system ROS).
# - no ROS 2: rclpy and message packages come from the pinned PyPI ros-* wheels.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
# Always: requirements/interop.txt (minari, d3rlpy: the dataset export/loaders and their tests),
# with --no-deps after the core install, its dependencies pinned one by one there (d3rlpy pins
# an older gymnasium that a resolver would downgrade ours to).
# --bench: also the benchmark-only extras (requirements/bench.txt), after the base setup.
bench=0
[ "${1:-}" = "--bench" ] && bench=1

if [ -n "${ROS_DISTRO:-}" ] && "$PYTHON" -c "import rclpy" 2>/dev/null; then
  mode="system ROS 2 ($ROS_DISTRO)"
  venv_flags=(--system-site-packages)
  reqs=(-r requirements/core.txt -r requirements/dev.txt)
else
  mode="no ROS 2 install: rclpy from the pinned PyPI ros-* wheels"
  venv_flags=()
  reqs=(-r requirements/core.txt -r requirements/ros-wheels.txt -r requirements/dev.txt)
fi
echo "[setup] mode: $mode"

stamp="$VENV/.h2o-setup"
want=$(cat requirements/core.txt requirements/dev.txt requirements/ros-wheels.txt \
  requirements/interop.txt src/*/setup.py | sha256sum | cut -c1-16)-$mode
bench_stamp="$VENV/.h2o-bench"
bench_want=$(sha256sum requirements/bench.txt | cut -c1-16)
install_bench() {
  if [ "$bench" = 1 ] && [ "$(cat "$bench_stamp" 2>/dev/null)" != "$bench_want" ]; then
    echo "[setup] installing the benchmark extras (requirements/bench.txt, --no-deps)"
    "$VENV/bin/python" -m pip install -q --no-deps -r requirements/bench.txt >/dev/null 2>&1 \
      || { echo "[setup] FAILED: pip install -r requirements/bench.txt"; exit 1; }
    echo "$bench_want" > "$bench_stamp"
  fi
}
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "[setup] $VENV is up to date"
  install_bench
  exit 0
fi
start=$(date +%s)
log=$(mktemp)
# pip is chatty (warnings about local indexes, editable installs): show it only on failure.
quiet() { "$@" >"$log" 2>&1 || { cat "$log"; echo "[setup] FAILED: $*"; exit 1; }; }
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "${venv_flags[@]}" "$VENV"
quiet "$VENV/bin/python" -m pip install -q --upgrade pip
echo "[setup] installing pinned requirements (first time: 1-3 min, ~2.3 GB with torch and ray)"
quiet "$VENV/bin/python" -m pip install -q "${reqs[@]}"
echo "[setup] installing the interop extras (requirements/interop.txt, --no-deps)"
quiet "$VENV/bin/python" -m pip install -q --no-deps -r requirements/interop.txt
# --no-deps checks nothing: import them now so a dependency missing from the pins fails here.
quiet "$VENV/bin/python" -c "import minari, d3rlpy"
# The workspace packages themselves, editable, so console scripts land in $VENV/bin.
quiet "$VENV/bin/python" -m pip install -q --no-deps --no-build-isolation \
  -e src/h2o_robot_bridge -e src/h2o_sim -e src/h2o_learning
rm -f "$log"
echo "$want" > "$stamp"
install_bench
echo "[setup] installed into $VENV in $(( $(date +%s) - start )) s"
