"""Operators of the scene fixes: scale calibration from two points or a factor, the photo's focal."""

from __future__ import annotations

import bpy
from bpy.props import BoolProperty, EnumProperty

from ...shot import fixes, photo_scene
from .common import active_shot


class REALCAM_OT_scale_point(bpy.types.Operator):
    """Set a calibration point at the 3D cursor (snap it onto the photo's mesh first: Shift+right-click)"""

    bl_idname = "realcam.scale_point"
    bl_label = "Scale Point from Cursor"
    bl_options = {"REGISTER", "UNDO"}

    # Each button names its point; a remembered "B" would overwrite B when a script or F3 means A (SKIP_SAVE).
    which: EnumProperty(items=(("A", "A", "Point A"), ("B", "B", "Point B")), options={"SKIP_SAVE"})

    def execute(self, context):
        shot = active_shot(self, context)
        if shot is None:
            return {"CANCELLED"}
        try:
            fixes.pick_point(shot, self.which, context.scene.cursor.location)
        except fixes.FixError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        d = fixes.measured(shot)
        measured = f"; A-B {fixes.length_text(shot, d)}" if d is not None else ""
        self.report({"INFO"}, f"point {self.which} set{measured}")
        return {"FINISHED"}


class REALCAM_OT_apply_scale(bpy.types.Operator):
    """Rescale the shot (photo mesh, camera moves, clip range, the depth sent to the backend) in one undo step"""

    bl_idname = "realcam.apply_scale"
    bl_label = "Apply Scale"
    bl_options = {"REGISTER", "UNDO"}

    source: EnumProperty(
        items=(
            ("POINTS", "From points", "A to B becomes the real distance"),
            ("FACTOR", "Factor", "The shot's scale factor field"),
        ),
        options={"SKIP_SAVE"},  # each button names its source: never the last one's
    )

    def execute(self, context):
        shot = active_shot(self, context)
        if shot is None:
            return {"CANCELLED"}
        try:
            fixes.check_shot(shot)
            s = fixes.factor_from_points(shot) if self.source == "POINTS" else shot.realcam.scale_factor
            done = fixes.apply_scale(shot, s)
        except fixes.FixError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        text = f"scaled the shot ×{done['scale']:.4g} (×{done['total']:.4g} in all), {done['keys']} camera keys"
        if done["not_scaled"]:
            self.report({"WARNING"}, f"{text}; not rescaled (scale them by hand): {', '.join(done['not_scaled'])}")
        else:
            self.report({"INFO"}, text)
        return {"FINISHED"}


class REALCAM_OT_apply_focal(bpy.types.Operator):
    """Give the photo another focal length: the mesh re-projected, the camera's lens and lens keys set to match"""

    bl_idname = "realcam.apply_focal"
    bl_label = "Apply Focal"
    bl_options = {"REGISTER", "UNDO"}

    to_imported: BoolProperty(
        name="Imported focal",
        default=False,
        options={"SKIP_SAVE"},
        description="Go back to the focal the photo was imported with",
    )

    def execute(self, context):
        shot = active_shot(self, context)
        if shot is None:
            return {"CANCELLED"}
        try:
            fx = shot.realcam.focal_input
            if self.to_imported:
                fx = photo_scene.photo_intrinsics(shot.realcam, imported=True).fx
            done = fixes.apply_focal(shot, fx)
        except (fixes.FixError, OSError) as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        text = f"photo focal {done['fx']:.1f} px (×{done['ratio']:.4g}), {done['lens_keys']} lens keys scaled"
        self.report({"WARNING"} if done["notes"] else {"INFO"}, "; ".join([text, *done["notes"]]))
        return {"FINISHED"}


CLASSES = (
    REALCAM_OT_scale_point,
    REALCAM_OT_apply_scale,
    REALCAM_OT_apply_focal,
)
