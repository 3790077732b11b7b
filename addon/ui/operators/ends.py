"""Operators of how a take ends: closing a loop's camera path, a transition to another shot and keying its ends."""

from __future__ import annotations

import bpy
from bpy.props import EnumProperty, IntProperty

from ...shot import loop, shots, transition
from ...tasks import RUNNER
from .common import active_shot

# Blender keeps no copy of the strings an enum's items callback returns: they must outlive the call.
_TARGETS: list = []


def _targets(self, context):
    scene = context.scene if context is not None else None
    found = transition.candidates(scene) if scene is not None and shots.is_shot(scene) else []
    _TARGETS[:] = [(s.realcam.shot_id, s.name, f"From this shot's photo to {s.name}'s") for s in found] or [
        ("", "(no other shot)", "Import a second photo first")
    ]
    return _TARGETS


def _busy(op, scene) -> bool:
    if RUNNER.active(scene.realcam.shot_id):
        op.report({"WARNING"}, "RealCam is reading or rendering this shot; wait or cancel it")
        return True
    return False


class REALCAM_OT_close_loop(bpy.types.Operator):
    """Key the camera at the shot's last frame where it stands at the first (with its rig), so a looped take's
    last frame leads back into its first"""

    bl_idname = "realcam.close_loop"
    bl_label = "Close the Loop"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        scene = active_shot(self, context)
        if scene is None or _busy(self, scene):
            return {"CANCELLED"}
        try:
            done = loop.close(scene)
        except ValueError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        scene.realcam.loop = True
        self.report({"INFO"}, f"keyed {done['holder']} at frame {done['frame']} back to the first frame's camera")
        return {"FINISHED"}


class REALCAM_OT_transition(bpy.types.Operator):
    """A new shot of the frames between this shot's photo and another's: both photos in one world, a camera from
    the first photo's to the second's, the take placed between the two shots in the edit"""

    bl_idname = "realcam.transition"
    bl_label = "Transition to Shot"
    bl_options = {"REGISTER", "UNDO"}

    # Per use: the panel's menu names the target and its length each time.
    target: EnumProperty(
        name="To", items=_targets, description="The shot whose photo the transition ends on", options={"SKIP_SAVE"}
    )
    frames: IntProperty(
        name="Frames", default=0, min=0, description="Its length; 0: the shot's Frames setting", options={"SKIP_SAVE"}
    )

    def execute(self, context):
        scene = active_shot(self, context)
        if scene is None:
            return {"CANCELLED"}
        other = shots.find(self.target) if self.target else None
        if other is None:
            self.report({"ERROR"}, "no shot to go to: import a second photo (a second shot) first")
            return {"CANCELLED"}
        try:
            made = transition.create(scene, other, self.frames or scene.realcam.transition_frames)
            moved = transition.arrange(made)
        except transition.TransitionError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        shots.show(context, made)
        after = f"; {other.name} moved {moved} frames later in the edit to follow it" if moved else ""
        self.report({"INFO"}, f"{made.name}: frames {made.frame_start}-{made.frame_end}{after}")
        return {"FINISHED"}


class REALCAM_OT_transition_ends(bpy.types.Operator):
    """Key the transition's camera again at its first frame to the first photo's camera and at its last to the
    second's, as placed now (after moving the second photo's placement)"""

    bl_idname = "realcam.transition_ends"
    bl_label = "Key the Ends"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        scene = active_shot(self, context)
        if scene is None or _busy(self, scene):
            return {"CANCELLED"}
        if not transition.is_transition(scene):
            self.report({"ERROR"}, f"{scene.name!r} is not a transition: make one with Transition to Shot")
            return {"CANCELLED"}
        try:
            done = transition.key_ends(scene)
            transition.arrange(scene)
        except transition.TransitionError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        self.report({"INFO"}, f"keyed {done['from']} at frame {done['frames'][0]}, {done['to']} at {done['frames'][1]}")
        return {"FINISHED"}


CLASSES = (REALCAM_OT_close_loop, REALCAM_OT_transition, REALCAM_OT_transition_ends)
