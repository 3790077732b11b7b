"""RealCam: turn one photo into a camera-controlled video shot (Blender extension).

The tree follows the data: photo -> shot/ (a 3D scene per photo, its fixes, its
camera and move) -> preview/ (what the camera sees, rendered) -> the job
(flows/generate, backend/) -> video -> edit/ (previews and takes as strips, the
drift of a take). flows/ holds every long operation as a task (tasks.py runs
them in short slices, never blocking the UI); ui/ holds the Blender classes
(panels, operators by feature, property groups, preferences) and nothing else
does. Below them all: extension.py (what Blender knows the add-on by), compat.py
(Blender 4.2 to 5.x), paths.py (where files live, relative to the .blend),
handlers.py (file events: paths kept relative, running takes picked up again).
Pure logic without bpy lives in realcam_core (shared with the backend; the
add-on's own in realcam_core/addon_only).

This module only registers, in order.
"""

import bpy

from . import handlers, tasks
from .backend import process as backend_process
from .ui import operators, panels, preferences, properties

# Property groups before the preferences that point at one; panels after the operators they draw.
_CLASSES = (
    *properties.CLASSES,
    preferences.RealcamPreferences,
    *operators.CLASSES,
    *panels.CLASSES,
)


def register():
    for cls in _CLASSES:
        bpy.utils.register_class(cls)
    properties.register()
    panels.register()
    handlers.register()


def unregister():
    handlers.unregister()
    tasks.unregister()
    backend_process.stop()
    panels.unregister()
    properties.unregister()
    for cls in reversed(_CLASSES):
        bpy.utils.unregister_class(cls)
