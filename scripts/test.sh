#!/usr/bin/env bash
# Set up .venv and run the tests (lint first). Extra arguments go to pytest.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
ruff check .
ruff format --check .
# Two workers, each taking whole files (module fixtures such as a test file's server are made once): most
# tests wait on a subprocess (Blender, a server), so two keep a 2-core machine busy. REALCAM_TEST_WORKERS=0
# runs in one process (pdb, -s output in order).
python -m pytest -n "${REALCAM_TEST_WORKERS:-2}" --dist loadfile "$@"
