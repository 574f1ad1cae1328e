#!/usr/bin/env bash
# The GPU check of issue 22, in one go, on a machine with a CUDA GPU:
#   the suite's device tests, `cinic bench --device cuda --gap` on a CINIC-10-sized folder
#   (90,000 images per split made from the demo set), a sweep of 8 trials at 0.25 GPU each on Ray,
#   and the reproduce study at full size (where `python -m cinic reproduce` exists, else "skipped").
# Every figure goes into one JSON: $OUT/device_check.json (default OUT=/tmp/device_check), with
# each step's output under $OUT/logs/. Exit status 1 if a step failed (the JSON says which and why).
#
#   bench/device_check.sh              # on the GPU machine (20-40 min: the full-scale bench decodes
#                                      # 90,000 PNGs and times the report's DataLoader pipeline on them)
#   bench/device_check.sh --dry-run    # here, on the CPU, tiny inputs: checks every step but the GPU figures
#   bench/device_check.sh --bench-epochs 3
#
# Python: ${PYTHON:-.venv/bin/python}; on a GPU machine whose python3 has torch with CUDA, run
#   PYTHON=python3 bench/device_check.sh
# That python needs the project's light requirements besides torch: pillow, numpy, filelock, tqdm,
# safetensors, scipy (pip install them, or carry their wheels). Carry the wheel of ray (and its
# dependencies) for the sweep step, which is recorded as "skipped" without it; Augmentor, streamlit
# and captum are not used by any step.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
exec "$PYTHON" bench/device_check.py "$@"
