"""The RealCam panels in the 3D view's sidebar, as Blender's own editors lay them out: a main panel (backend, Import
Photo, the running task; outside a shot the file's shots) and, in a shot, collapsible sub-panels in the order of the
work: Shot, Scene fixes, Camera move, Generate, Takes, Drift. The rarely used ones (Scene fixes, Drift) start closed.
Also the status bar's progress and File > Import's entry.

Sub-panels are listed after their parent: Blender registers a sub-panel only once its parent is registered, and
shows them in the order they were registered.
"""

import bpy

from . import camera, generate, main, shot, takes

CLASSES = (main.REALCAM_PT_main, *shot.CLASSES, *camera.CLASSES, *generate.CLASSES, *takes.CLASSES)


def register():
    bpy.types.STATUSBAR_HT_header.append(main.draw_status)
    bpy.types.TOPBAR_MT_file_import.append(main.menu_import)


def unregister():
    bpy.types.STATUSBAR_HT_header.remove(main.draw_status)
    bpy.types.TOPBAR_MT_file_import.remove(main.menu_import)
