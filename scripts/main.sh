#!/usr/bin/env bash
# Set up .venv and run the main job: the sample photo to a generated shot in the
# sequencer, headless, through the Blender add-on (writes out/main/).
#   bash scripts/main.sh           the default video model (stops with a message if its weights are missing)
#   bash scripts/main.sh --tiny    the same chain on small random-weight models, on any machine
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
python scripts/main_job.py "$@"
