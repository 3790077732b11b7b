#!/usr/bin/env bash
# Set up .venv and run the tests (lint first). Extra arguments go to pytest.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
ruff check .
ruff format --check .
python -m pytest "$@"
