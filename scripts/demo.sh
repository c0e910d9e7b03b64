#!/usr/bin/env bash
# The main job (README, "make demo"): h2o-demo with the shipped config (config/demo/demo.yaml)
# and the `demo` budget (<= 15 min on 2 cores). Extra arguments go to h2o-demo, e.g.
#   bash scripts/demo.sh --out /tmp/report      or      make demo DEMO_ARGS="--budget tiny"
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
export PATH="$PWD/$VENV/bin:$PATH"
# shellcheck disable=SC2086 # DEMO_ARGS is a list of words on purpose
exec h2o-demo --config config/demo/demo.yaml --budget demo ${DEMO_ARGS:-} "$@"
