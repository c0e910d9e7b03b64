#!/usr/bin/env bash
# The main job (README, "make demo"). Runs every stage that exists so far, never a fake one.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
export PATH="$PWD/$VENV/bin:$PATH"
python - <<'PY'
from h2o_robot_bridge import contract as c
print(f"robot contract {c.CONTRACT_VERSION}: {c.NUM_JOINTS} joints {c.JOINT_NAMES}")
print(f"observation {c.OBS_DIM} values, action {c.ACTION_DIM} values, tasks {sorted(c.TASKS)}")
PY
echo "[demo] the simulator, dataset, training and deploy stages are not built yet (issues 3-7)."
