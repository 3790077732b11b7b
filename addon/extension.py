"""What Blender knows the add-on by: its package name, its folder, its user folder and its preferences.

One place for `__package__`: modules in sub-packages see their own package there, and the add-on's preferences,
user folder and bl_idname all need the extension's (bl_ext.<repository>.realcam once installed).
"""

from __future__ import annotations

import os

import bpy

PACKAGE = __package__
FOLDER = os.path.dirname(os.path.abspath(__file__))  # the installed extension: its modules, backend_dist/


def prefs(context=None):
    """The add-on's preferences (ui/preferences.py defines them)."""
    context = context or bpy.context
    return context.preferences.addons[PACKAGE].preferences


def user_folder(path: str = "") -> str:
    """The extension's own user folder (or a folder inside it), made when missing; ValueError where Blender has
    none for it."""
    return bpy.utils.extension_path_user(PACKAGE, path=path, create=True)
