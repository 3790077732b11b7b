"""Shared by the Blender test scripts: a clean Blender with the built extension installed."""

import json
import os
import sys
import warnings

import bpy

# Deprecated Blender API the add-on uses (Blender warns once it plans a removal): each report lists them.
DEPRECATIONS = []


_show = warnings.showwarning


def _record(message, category, filename, lineno, file=None, line=None):
    if issubclass(category, DeprecationWarning) and "/realcam/" in filename.replace(os.sep, "/"):
        DEPRECATIONS.append(f"{os.path.basename(filename)}:{lineno}: {message}")
    _show(message, category, filename, lineno, file, line)


warnings.simplefilter("always", DeprecationWarning)
warnings.showwarning = _record


def start(zip_path: str) -> str:
    """Factory settings, then install and enable the extension zip as a user would."""
    assert os.environ.get("BLENDER_USER_RESOURCES"), "tests must point Blender's user folders at a temp dir"
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.extensions.package_install_files(filepath=zip_path, repo="user_default", enable_on_install=True)
    pkg = "bl_ext.user_default.realcam"
    assert pkg in bpy.context.preferences.addons, list(bpy.context.preferences.addons.keys())
    return pkg


def prefs(pkg):
    return bpy.context.preferences.addons[pkg].preferences


def module(pkg, name):
    return sys.modules[f"{pkg}.{name}"]


def last_task(pkg):
    tasks = module(pkg, "tasks").RUNNER.tasks
    return tasks[-1] if tasks else None


def run_op(op, **kw):
    """Call an operator; return (result set, the error of the task it ran, if any)."""
    try:
        result = op(**kw)
    except RuntimeError as e:  # operator reported ERROR
        return {"CANCELLED"}, str(e)
    return result, None


def deprecations():
    """Deprecated Blender API the add-on called so far (file:line: Blender's warning)."""
    return sorted(set(DEPRECATIONS))


def dump(path, data):
    with open(path, "w") as fh:
        json.dump(data, fh, indent=1, default=str)
