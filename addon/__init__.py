"""RealCam: turn one photo into a camera-controlled video shot (Blender extension).

photo -> scene (photo_source, photo_scene) -> camera track (camera_track,
presets, re10k_io) -> preview (preview) -> job (flows, backend_process) ->
video -> sequencer (sequencer). Pure logic shared with the backend lives in
realcam_core; long work runs as tasks (tasks.py), never blocking the UI.
"""

import bpy

from . import backend_process, backend_setup, operators, preferences, properties, tasks, ui

_CLASSES = (
    *backend_setup.CLASSES,
    preferences.RealcamPreferences,
    properties.RealcamSceneSettings,
    *operators.CLASSES,
    *ui.CLASSES,
)


def register():
    for cls in _CLASSES:
        bpy.utils.register_class(cls)
    properties.register()
    ui.register()


def unregister():
    tasks.unregister()
    backend_process.stop()
    ui.unregister()
    properties.unregister()
    for cls in reversed(_CLASSES):
        bpy.utils.unregister_class(cls)
