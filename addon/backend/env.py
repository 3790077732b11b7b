"""The backend's private environment on disk: where it lives, its Python, how the add-on starts it, the backend the
extension carries, and what a set-up leaves behind.

Shared by the add-on (setup.py) and the set-up worker (setup_worker.py, a script that Blender's own Python runs in a
separate process, which imports this folder's modules as a private package): standard library only, no bpy, nothing
imported from outside this folder. Beside it, by the same rule: command_line (the start-command preference),
torch_build (GPU detection, which torch), pip_failures (pip's errors for the artist), process_tree (child processes).
"""

from __future__ import annotations

import json
import ntpath
import os
import platform
import shutil

# Inside the extension: the backend's wheel, its constraints and backend.json. Blender ignores the folder (no
# __init__.py, not the manifest's `wheels`), so nothing is installed into Blender's own Python.
BUNDLE_DIR = "backend_dist"
BUNDLE_INFO = "backend.json"

# Inside the extension's user folder (bpy.utils.extension_path_user).
ENV_DIR = "env"
PARTIAL_PREFIX = "env.partial-"  # an environment being built; never used, removed when found
OLD_PREFIX = "env.old-"  # the previous environment during an update's swap
SETUP_RECORD = "realcam-setup.json"  # inside the environment: what was installed, from what
STATUS_FILE = "backend-status.json"  # the last check's result, shown in the preferences
LOG_DIR = "logs"
SETUP_LOG = "backend-setup.log"
DOWNLOAD_LOG = "model-download.log"
STAGES = ("environment", "torch", "backend", "check")


class SetupError(Exception):
    """A reason the set-up stopped, written for the artist."""


# ----------------------------------------------------------------- paths


def is_windows(system: str | None = None) -> bool:
    return (system or platform.system()) == "Windows"


def env_python(env_dir: str, system: str | None = None) -> str:
    """The environment's Python: Scripts\\python.exe on Windows, bin/python elsewhere."""
    if is_windows(system):
        return ntpath.join(env_dir, "Scripts", "python.exe")
    return os.path.join(env_dir, "bin", "python")


def start_argv(env_dir: str, system: str | None = None) -> list[str]:
    """How the add-on starts the installed backend. `-m realcam`, not the `realcam` script: the script's first line
    names the folder it was installed in, and the environment is built elsewhere and moved into place.
    --offline: the embedded backend never downloads weights on its own (the preferences' Download model does)."""
    return [env_python(env_dir, system), "-m", "realcam", "serve", "--offline"]


# ----------------------------------------------------------------- the backend the extension carries


def read_bundle(extension_dir: str) -> dict:
    """backend.json of the backend shipped in the extension, with the absolute paths of its files."""
    folder = os.path.join(extension_dir, BUNDLE_DIR)
    path = os.path.join(folder, BUNDLE_INFO)
    try:
        with open(path, encoding="utf-8") as fh:
            info = json.load(fh)
    except (OSError, ValueError):
        raise SetupError(
            f"this copy of the add-on carries no backend ({path} is missing): install the extension zip built by "
            "scripts/build_addon.py"
        ) from None
    info["wheel_path"] = os.path.join(folder, info["wheel"])
    info["constraints_path"] = os.path.join(folder, info["constraints"])
    return info


def read_json(path: str) -> dict | None:
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None


def write_json(path: str, data: dict) -> None:
    """Whole or not at all: a reader never sees half a file."""
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1)
    os.replace(tmp, path)


def leftovers(user_dir: str) -> list[str]:
    """Environments being built or swapped out, left by a set-up that was killed."""
    try:
        names = os.listdir(user_dir)
    except OSError:
        return []
    return [os.path.join(user_dir, n) for n in names if n.startswith((PARTIAL_PREFIX, OLD_PREFIX))]


def remove_tree(path: str) -> bool:
    """Delete a folder, read-only files included (Windows); True when it is gone."""

    def _retry(func, p, _exc):
        try:
            os.chmod(p, 0o700)
            func(p)
        except OSError:
            pass

    if os.path.islink(path):
        os.unlink(path)
        return True
    if os.path.isdir(path):
        shutil.rmtree(path, onerror=_retry)
    return not os.path.exists(path)
