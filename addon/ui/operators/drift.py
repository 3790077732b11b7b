"""Operators that show a take's drift: compared with its preview in the edit, its ghost camera."""

from __future__ import annotations

import bpy
from bpy.props import EnumProperty

from ...edit import drift
from ...flows import ghost
from ...realcam_core.camera import CameraError
from ...shot import shots
from .common import run_task, selected_take


class REALCAM_OT_take_compare(bpy.types.Operator):
    """Show the selected take against the shot's preview in the edit: difference, blend or side by side"""

    bl_idname = "realcam.take_compare"
    bl_label = "Compare Take with Preview"
    bl_options = {"REGISTER", "UNDO"}

    mode: EnumProperty(
        name="Mode",
        items=[
            ("DIFFERENCE", "Difference", "A difference strip: black where the take matches the preview"),
            ("BLEND", "Blend", "The take and the preview at 50 % each"),
            ("SIDE_BY_SIDE", "Side by side", "Preview on the left, take on the right"),
            ("OFF", "Off", "Remove the comparison: the strips as they were"),
        ],
        default="DIFFERENCE",
        options={"SKIP_SAVE"},  # each button names its mode
    )

    def execute(self, context):
        found = selected_take(self, context)
        if found is None:
            return {"CANCELLED"}
        scene, i = found
        try:
            drift.compare(scene, scene.realcam.takes[i].name, self.mode)
        except CameraError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        return {"FINISHED"}


class REALCAM_OT_take_ghost(bpy.types.Operator):
    """Add the camera COLMAP recovered from the selected take, keyed next to yours, to see where the video drifted"""

    bl_idname = "realcam.take_ghost"
    bl_label = "Ghost Camera of Take"

    def execute(self, context):
        found = selected_take(self, context)
        if found is None:
            return {"CANCELLED"}
        scene, i = found
        ref, take_name = shots.ShotRef(scene), scene.realcam.takes[i].name
        return run_task(self, "ghost camera", ref.id, lambda task: ghost.ghost_task(task, ref, take_name))


CLASSES = (
    REALCAM_OT_take_compare,
    REALCAM_OT_take_ghost,
)
