"""Where the add-on keeps scenes, previews, bundles and takes."""

import os
import tempfile

import bpy

from .preferences import prefs


def job_root(context=None) -> str:
    """The preference if set; else a 'realcam' folder next to the .blend; else the add-on's user folder."""
    p = prefs(context)
    if p.job_folder:
        root = bpy.path.abspath(p.job_folder)
    elif bpy.data.filepath:
        root = os.path.join(os.path.dirname(bpy.data.filepath), "realcam")
    else:
        try:
            root = bpy.utils.extension_path_user(__package__, path="projects", create=True)
        except (ValueError, AttributeError):
            root = os.path.join(tempfile.gettempdir(), "realcam")
    os.makedirs(root, exist_ok=True)
    return root
