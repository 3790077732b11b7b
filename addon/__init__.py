"""RealCam: turn one photo into a camera-controlled video shot (Blender extension).

photo -> shot (photo_source, photo_scene, shots: a scene per photo) -> camera
track (camera_track, presets, re10k_io) -> preview (preview) -> job (flows,
backend/) -> video -> edit scene (sequencer). Pure logic shared with the
backend lives in realcam_core; long work runs as tasks (tasks.py), never
blocking the UI; file events (handlers.py) keep paths relative and pick up
takes that were running when Blender closed. Blender classes live in ui/.
"""

import bpy

from . import handlers, tasks
from .backend import process as backend_process
from .ui import operators, panel, preferences, properties

# Property groups before the preferences that point at one; panels after the operators they draw.
_CLASSES = (
    *properties.CLASSES,
    preferences.RealcamPreferences,
    *operators.CLASSES,
    *panel.CLASSES,
)


def register():
    for cls in _CLASSES:
        bpy.utils.register_class(cls)
    properties.register()
    panel.register()
    handlers.register()


def unregister():
    handlers.unregister()
    tasks.unregister()
    backend_process.stop()
    panel.unregister()
    properties.unregister()
    for cls in reversed(_CLASSES):
        bpy.utils.unregister_class(cls)
