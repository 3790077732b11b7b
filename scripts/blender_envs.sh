#!/usr/bin/env bash
# Sourced by env.sh: the other Blender versions the add-on is tested on. The manifest promises 4.2 and
# later; .venv has bpy 4.5 (it shares numpy<2 with the backend). Each other version gets its own
# environment, .venv/blender/<version>/, made with the same Python 3.11 (bpy 4.2 to 5.0 all need it):
# about 1 GB and under a minute each. The backend stays in .venv; the Blender tests run their scripts
# with each version's Python. A version pip cannot install is left out: the tests skip it with pip's
# reason, kept in .venv/blender/<version>.skip (in CI, where all must run, the set-up fails instead).
# REALCAM_BLENDER_VERSIONS="" sets up none; "4.2" only that one.
for ver in ${REALCAM_BLENDER_VERSIONS-4.2 5.0}; do
  dir="$ROOT/.venv/blender/$ver"
  skip="$ROOT/.venv/blender/$ver.skip"
  have=$("$dir/bin/python" -c 'from importlib.metadata import version; print(version("bpy"))' 2>/dev/null || true)
  case "$have" in "$ver".*) continue ;; esac
  rm -rf "$dir" "$skip"
  mkdir -p "$ROOT/.venv/blender"
  echo "realcam: installing bpy $ver into .venv/blender/$ver for the Blender tests" >&2
  # Blender bundles numpy 1.x; the 4.2 wheel does not say so and would get numpy 2.
  if ! out=$("$PY" -m venv "$dir" 2>&1 && "$dir/bin/python" -m pip install -q --disable-pip-version-check \
    "bpy==$ver.*" "numpy>=1.26,<2" 2>&1); then
    rm -rf "$dir"
    printf '%s\n' "$out" | grep -v "^WARNING: Location" | tail -n 5 >"$skip"
    if [ -n "${CI:-}" ]; then  # CI runs every promised version: a missing one fails the set-up
      echo "realcam: bpy $ver cannot be installed: $(tail -n 1 "$skip")" >&2; exit 1
    fi
    echo "realcam: bpy $ver cannot be installed here; its Blender tests will be skipped: $(tail -n 1 "$skip")" >&2
  fi
done
