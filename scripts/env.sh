#!/usr/bin/env bash
# Create or refresh the environment in .venv/ at the repository root.
# Sourced by main.sh and test.sh. torch is installed first, pinned, when none is
# there (a CPU wheel here; on a GPU machine install the CUDA build first, see README).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
PY=${PYTHON:-}
if [ -z "$PY" ]; then
  for cand in python3.11 python3; do
    if command -v "$cand" >/dev/null && "$cand" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      PY=$cand; break
    fi
  done
fi
[ -n "$PY" ] || { echo "realcam: Python 3.11 is required (bpy 4.5 is built for it); set PYTHON=/path/to/python3.11" >&2; exit 1; }
[ -x .venv/bin/python ] || "$PY" -m venv .venv
VPY="$ROOT/.venv/bin/python"
"$VPY" -m pip install -q --disable-pip-version-check --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
if ! "$VPY" -c 'import torch' 2>/dev/null; then
  "$VPY" -m pip install -q torch==2.13.0 2>&1 | grep -v "^WARNING: Location" || true
fi
"$VPY" -m pip install -q -e ".[test,cluster]" 2>&1 | grep -v -e "^WARNING: Location" -e "BuildBackendWarning" || true
"$VPY" -c 'import torch, diffusers, transformers, bpy, ray, realcam, realcam_core' || {
  echo "realcam: the environment in .venv is incomplete (see the pip output above)" >&2; exit 1; }
# The dashboard's browser tests drive Debian's chromium (not a browser Playwright downloads). CI runs this as
# root on Debian and installs it; elsewhere those tests skip, naming the package.
if [ "${CI:-}" = "true" ] && ! command -v chromium >/dev/null; then
  if command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null \
      || echo "realcam: could not install chromium: the dashboard's browser tests will skip" >&2
  else
    echo "realcam: no apt-get to install chromium with: the dashboard's browser tests will skip" >&2
  fi
fi
source "$ROOT/scripts/blender_envs.sh"
export PATH="$ROOT/.venv/bin:$PATH"
