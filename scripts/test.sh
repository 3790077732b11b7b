#!/usr/bin/env bash
# Set up .venv and run the tests (lint first). Extra arguments go to pytest.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
ruff check .
ruff format --check .
# Two workers, each taking whole files (module fixtures such as a test file's server are made once): most
# tests wait on a subprocess (Blender, a server), so two keep a 2-core machine busy. REALCAM_TEST_WORKERS=0
# runs in one process (pdb, -s output in order).
workers=(-n "${REALCAM_TEST_WORKERS:-2}" --dist loadfile)
if [ "$#" -gt 0 ]; then
  python -m pytest "${workers[@]}" "$@"
  exit
fi
# Everything: the local Ray cluster's tests run on their own after the rest, since a Ray node that cannot
# register within Ray's fixed 30 s (a machine busy with Blender renders) fails to start.
rc=0
python -m pytest "${workers[@]}" -m "not cluster" || rc=$?
python -m pytest -m cluster || rc=$((rc ? rc : $?))
exit "$rc"
