#!/usr/bin/env bash
# `make gpu-check` on a GPU machine that has no project venv but a python3 with torch + CUDA (e.g. a
# lent GPU box whose image cannot reach a package index): installs the wheels found in .whl/ (if any;
# see the "GPU:" item of the README's "Known limits" for how to fetch them) into /tmp/site, then runs the check.
#   bash tests/gpu/run_on_device.sh [persim.gpu_check options]
set -uo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-python3}
if ls .whl/*.whl >/dev/null 2>&1; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}
else
  export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>/dev/null || echo "nvidia-smi: not available"
$PY -c 'import d3rlpy, gymnasium, mujoco, snakemake, torch; print("imports ok: torch", torch.__version__, "d3rlpy", d3rlpy.__version__)' || exit 1
exec $PY -m persim.gpu_check "$@"
