"""RealCam: turn one photo into a camera-controlled video shot (Blender extension).

photo -> shot (photo_source, photo_scene, shots: a scene per photo) -> camera
track (camera_track, presets, re10k_io) -> preview (preview) -> job (flows,
backend_process) -> video -> edit scene (sequencer). Pure logic shared with the
backend lives in realcam_core; long work runs as tasks (tasks.py), never
blocking the UI; file events (handlers.py) keep paths relative and pick up
takes that were running when Blender closed.
"""

import bpy

from . import (
    backend_process,
    backend_setup,
    handlers,
    moves,
    operators,
    preferences,
    properties,
    shot_fixes,
    tasks,
    ui,
)

_CLASSES = (
    *backend_setup.CLASSES,
    preferences.RealcamPreferences,
    *properties.CLASSES,
    *operators.CLASSES,
    *moves.CLASSES,
    *shot_fixes.CLASSES,
    *ui.CLASSES,
)


def register():
    for cls in _CLASSES:
        bpy.utils.register_class(cls)
    properties.register()
    ui.register()
    handlers.register()


def unregister():
    handlers.unregister()
    tasks.unregister()
    backend_process.stop()
    ui.unregister()
    properties.unregister()
    for cls in reversed(_CLASSES):
        bpy.utils.unregister_class(cls)
