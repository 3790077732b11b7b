"""Operators of the shot's takes: load what made one, open its folder, delete it."""

from __future__ import annotations

import os

import bpy
from bpy.props import BoolProperty

from ...edit import takes
from ...tasks import RUNNER
from .common import selected_take


class REALCAM_OT_take_load(bpy.types.Operator):
    """Set the panel's model, prompts, seed, steps, guidance and switches to what made the selected take"""

    bl_idname = "realcam.take_load"
    bl_label = "Load Settings from Take"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        found = selected_take(self, context)
        if found is None:
            return {"CANCELLED"}
        scene, i = found
        done = takes.load_settings(scene, scene.realcam.takes[i])
        self.report({"INFO"}, f"loaded {', '.join(done)} from {scene.realcam.takes[i].name}")
        return {"FINISHED"}


class REALCAM_OT_take_open_folder(bpy.types.Operator):
    """Open the selected take's folder (video, result, bundle) in the file manager"""

    bl_idname = "realcam.take_open_folder"
    bl_label = "Open Folder"

    def execute(self, context):
        found = selected_take(self, context)
        if found is None:
            return {"CANCELLED"}
        scene, i = found
        folder = takes.folder(scene.realcam.takes[i])
        if not folder or not os.path.isdir(folder):
            self.report(
                {"ERROR"},
                f"the take's folder {folder or '(none)'} is not there (moved or deleted?): put it back, "
                "or Delete the take from the list",
            )
            return {"CANCELLED"}
        bpy.ops.wm.path_open(filepath=folder)
        return {"FINISHED"}


class REALCAM_OT_take_delete(bpy.types.Operator):
    """Delete the selected take: its strip in the edit and its folder on disk (asks first)"""

    bl_idname = "realcam.take_delete"
    bl_label = "Delete Take"
    bl_options = {"REGISTER", "UNDO"}

    # Set only by the confirmation dialog (or a script that means it): the files are gone once the file is closed.
    confirm: BoolProperty(name="Confirmed", default=False, options={"HIDDEN", "SKIP_SAVE"})

    def invoke(self, context, event):
        found = selected_take(self, context)
        if found is None:
            return {"CANCELLED"}
        scene, i = found
        item = scene.realcam.takes[i]
        self.confirm = True  # execute runs only once the artist clicked Delete in the dialog
        return context.window_manager.invoke_confirm(
            self,
            event,
            title=f"Delete take {item.name}?",
            message=f"Its strip and its folder {takes.folder(item)} are deleted; undo brings them back until the "
            "file is closed",
            confirm_text="Delete",
            icon="WARNING",
        )

    def execute(self, context):
        found = selected_take(self, context)
        if found is None:
            return {"CANCELLED"}
        scene, i = found
        if not self.confirm:
            self.report(
                {"ERROR"},
                "deleting a take removes its files once the file is closed: use the panel's Delete (it asks), "
                "or confirm=True",
            )
            return {"CANCELLED"}
        if RUNNER.active(scene.realcam.shot_id):
            self.report({"WARNING"}, "RealCam is working on this shot; wait or cancel it")
            return {"CANCELLED"}
        done = takes.delete(scene, i)
        self.report({"INFO"}, f"deleted take {done['name']}")
        return {"FINISHED"}


CLASSES = (
    REALCAM_OT_take_load,
    REALCAM_OT_take_open_folder,
    REALCAM_OT_take_delete,
)
